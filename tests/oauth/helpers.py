"""A hand-driven OAuth client for the refusal tests: register, authorize, exchange, call /mcp."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from urllib.parse import urlencode

import httpx2

from tests.oauth.conftest import Browser, redirect_params

REDIRECT_URI = "http://127.0.0.1:33419/cb"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def register(url: str, **overrides) -> httpx2.Response:
    body = {
        "client_name": "Hand client",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **overrides,
    }
    # json.dumps escapes to ASCII, so a test can send a lone surrogate as a client would (\ud800).
    content = json.dumps(body)
    return httpx2.post(f"{url}/oauth/register/", content=content, headers={"Content-Type": "application/json"}, timeout=15)


def authorize_url(url: str, client_id: str, challenge: str, **overrides) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "tasks:read tasks:write",
        "resource": f"{url}/mcp",
        **overrides,
    }
    return f"{url}/oauth/authorize/?{urlencode({k: v for k, v in params.items() if v is not None})}"


def get_code(url: str, client_id: str, challenge: str, username: str = "alice", **overrides) -> dict[str, str]:
    browser = Browser(username)
    return redirect_params(asyncio.run(browser.authorize(authorize_url(url, client_id, challenge, **overrides))))


def exchange(url: str, client_id: str, code: str, verifier: str, **extra) -> httpx2.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": client_id,
        "code_verifier": verifier,
        **extra,
    }
    return httpx2.post(f"{url}/oauth/token/", data={k: v for k, v in data.items() if v is not None}, timeout=15)


def issue_tokens(url: str, username: str = "alice", scope: str = "tasks:read tasks:write") -> dict:
    client_id = register(url).json()["client_id"]
    verifier, challenge = pkce_pair()
    code = get_code(url, client_id, challenge, username, scope=scope)["code"]
    response = exchange(url, client_id, code, verifier)
    assert response.status_code == 200, response.text
    return {**response.json(), "client_id": client_id}


def mcp_post(url: str, token: str, method: str, params: dict | None = None) -> httpx2.Response:
    return httpx2.post(
        f"{url}/mcp",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        },
        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}},
        timeout=15,
    )
