"""The whole OAuth flow driven by the MCP SDK's own OAuth client against the live app."""

from __future__ import annotations

import asyncio

import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from apps.audit.models import AuditEvent
from tests.factories import make_task
from tests.oauth.conftest import Browser, redirect_params

pytestmark = pytest.mark.django_db(transaction=True)

REDIRECT_URI = "http://127.0.0.1:33418/callback"


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


def provider(url: str, browser: Browser, storage: MemoryStorage, *, scope: str = "tasks:read tasks:write", client_metadata_url=None):
    results: list[AuthorizationCodeResult] = []

    async def redirect_handler(authorization_url: str) -> None:
        params = redirect_params(await browser.authorize(authorization_url))
        results.append(AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss")))

    async def callback_handler() -> AuthorizationCodeResult:
        return results.pop()

    return OAuthClientProvider(
        server_url=f"{url}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="SDK test client",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            scope=scope,
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=client_metadata_url,
    )


async def _session_call(url: str, auth, tool: str, arguments: dict, statuses: list[int] | None = None):
    async def record(response):
        if statuses is not None:
            statuses.append(response.status_code)

    async with httpx2.AsyncClient(auth=auth, timeout=20, event_hooks={"response": [record]}) as http:
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http), cache=None) as client:
            tools = [tool.name for tool in (await client.list_tools()).tools]
            result = await client.call_tool(tool, arguments)
            return tools, result


def test_sdk_oauth_flow_discovers_registers_authorizes_calls_refreshes_and_revokes(oauth_server, alice, bob):
    make_task(alice, title="Alice's task")
    make_task(bob, title="Bob's task")
    browser = Browser("alice")
    storage = MemoryStorage()
    statuses: list[int] = []
    auth = provider(oauth_server, browser, storage)

    tools, result = asyncio.run(_session_call(oauth_server, auth, "list_tasks", {}, statuses))

    assert statuses[0] == 401  # discovery started from the 401 of the first /mcp request
    assert storage.client_info is not None and storage.client_info.client_id  # dynamic registration
    assert "Connect SDK test client" in browser.consent_page
    assert "add_task" in tools and "list_tasks" in tools
    assert not result.is_error
    titles = [task["title"] for task in result.structured_content["tasks"]]
    assert titles == ["Alice's task"]  # the signed-in user's tasks only
    first = storage.tokens
    assert first.access_token.startswith("tdo_") and first.refresh_token.startswith("tdr_")
    assert first.scope.split() == ["tasks:read", "tasks:write"] or set(first.scope.split()) == {"tasks:read", "tasks:write"}

    # Refresh: the SDK refreshes an expired token; the refresh token rotates.
    auth.context.token_expiry_time = 1  # in the past
    _tools, result = asyncio.run(_session_call(oauth_server, auth, "list_tasks", {}))
    assert not result.is_error
    second = storage.tokens
    assert second.access_token != first.access_token and second.refresh_token != first.refresh_token
    old = httpx2.post(f"{oauth_server}/mcp", headers=_mcp_headers(first.access_token), json=_ping())
    assert old.status_code == 401  # the replaced access token is gone

    # Revocation (RFC 7009) -> 401 at /mcp, at once.
    ok = httpx2.post(f"{oauth_server}/mcp", headers=_mcp_headers(second.access_token), json=_ping())
    assert ok.status_code == 200
    revoked = httpx2.post(
        f"{oauth_server}/oauth/revoke/",
        data={"token": second.access_token, "client_id": storage.client_info.client_id},
    )
    assert revoked.status_code == 200
    after = httpx2.post(f"{oauth_server}/mcp", headers=_mcp_headers(second.access_token), json=_ping())
    assert after.status_code == 401
    assert "resource_metadata=" in after.headers["www-authenticate"]

    actions = list(AuditEvent.objects.filter(action__startswith="oauth.").values_list("action", flat=True))
    assert {"oauth.grant", "oauth.token_issued", "oauth.token_refreshed", "oauth.token_revoked"} <= set(actions)
    for event in AuditEvent.objects.filter(action__startswith="oauth."):
        text = str(event.metadata)
        for secret in (first.access_token, first.refresh_token, second.access_token, second.refresh_token):
            assert secret not in text


def _mcp_headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }


def _ping() -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def test_sdk_oauth_flow_with_a_client_id_metadata_document(oauth_server, alice, tmp_path, settings):
    from tests.oauth.cimd_server import serve_documents

    make_task(alice, title="Via CIMD")
    documents: dict[str, object] = {}
    with serve_documents(tmp_path, documents) as (base, ca_file, hits):
        client_id = f"{base}/oauth/client.json"
        documents["/oauth/client.json"] = {
            "client_id": client_id,
            "client_name": "Metadata document client",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        settings.OAUTH_CIMD_CA_FILE = ca_file
        browser = Browser("alice")
        storage = MemoryStorage()
        statuses: list[int] = []
        auth = provider(oauth_server, browser, storage, client_metadata_url=client_id)
        _tools, result = asyncio.run(_session_call(oauth_server, auth, "list_tasks", {}, statuses))

    assert "/oauth/client.json" in hits  # the server fetched the document
    assert storage.client_info.client_id == client_id  # no dynamic registration
    assert "Connect Metadata document client" in browser.consent_page
    assert not result.is_error
    assert [task["title"] for task in result.structured_content["tasks"]] == ["Via CIMD"]
