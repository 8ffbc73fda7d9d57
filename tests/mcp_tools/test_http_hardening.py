"""/mcp against careless and hostile clients: streams that never end, bad ids, unknown versions, huge or deep bodies."""

from __future__ import annotations

import time

import httpx2
import pytest

from apps.todos.models import Task
from tests.factories import make_token, make_user
from tests.mcp_tools.conftest import http_session, run

pytestmark = pytest.mark.django_db(transaction=True)

ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
LEGACY = "2025-11-25"
MCP_VERSION = "Mcp-Protocol-Version"


def _headers(token: str, **extra: str) -> dict[str, str]:
    return {**ACCEPT, "Authorization": f"Bearer {token}", **extra}


def _post(base_url: str, message, token: str, version: str) -> httpx2.Response:
    return httpx2.post(f"{base_url}/mcp", json=message, headers=_headers(token, **{MCP_VERSION: version}), timeout=5)


def _rpc_error(response: httpx2.Response, status: int, code: int) -> dict:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert body["error"]["code"] == code, body
    return body["error"]


@pytest.mark.parametrize("accept", ["text/event-stream", "application/json, text/event-stream"])
def test_get_is_a_405_with_allow_not_an_endless_event_stream(live_server_url, accept):
    token = make_token(make_user("streamer"))
    started = time.monotonic()
    with httpx2.stream(
        "GET", f"{live_server_url}/mcp", headers={"Accept": accept, "Authorization": f"Bearer {token}"}, timeout=5
    ) as response:
        response.read()
    assert time.monotonic() - started < 2
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.headers["content-type"].startswith("application/json")
    _rpc_error(response, 405, -32600)


def test_many_gets_at_once_are_all_answered_and_closed(live_server_url):
    async def scenario():
        async with httpx2.AsyncClient(timeout=5) as client:
            import asyncio

            responses = await asyncio.gather(
                *(client.get(f"{live_server_url}/mcp", headers={"Accept": "text/event-stream"}) for _ in range(50))
            )
        return [r.status_code for r in responses]

    assert run(scenario()) == [405] * 50


def test_delete_is_a_405_with_allow(live_server_url):
    response = httpx2.delete(f"{live_server_url}/mcp", headers=ACCEPT, timeout=5)
    assert response.status_code == 405 and response.headers["allow"] == "POST"


@pytest.mark.parametrize("bad_id", [{"a": 1}, None, True, 1.5, [1]])
def test_a_request_with_an_invalid_id_is_an_invalid_request_not_a_202(live_server_url, bad_id):
    token = make_token(make_user("ids"))
    params = {"name": "add_task", "arguments": {"title": "x"}}
    message = {"jsonrpc": "2.0", "id": bad_id, "method": "tools/call", "params": params}
    response = _post(live_server_url, message, token, LEGACY)
    error = _rpc_error(response, 400, -32600)
    assert "string or an integer" in error["message"]
    assert not Task.objects.exists()  # and the call did not run as a notification either


def test_a_notification_without_id_is_still_accepted(live_server_url):
    token = make_token(make_user("notify"))
    message = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert _post(live_server_url, message, token, LEGACY).status_code == 202


def test_an_unsupported_protocol_version_names_the_supported_ones(live_server_url):
    token = make_token(make_user("versions"))
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    error = _rpc_error(_post(live_server_url, message, token, "1999-01-01"), 400, -32022)
    assert "1999-01-01" in error["message"]
    assert "2025-11-25" in error["message"] and "2026-07-28" in error["message"]
    assert error["data"]["requested"] == "1999-01-01" and "2026-07-28" in error["data"]["supported"]


def test_a_2_mb_body_is_a_413(live_server_url):
    token = make_token(make_user("big"))
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"x": "' + b"x" * 2_000_000 + b'"}}'
    response = httpx2.post(f"{live_server_url}/mcp", content=body, headers=_headers(token), timeout=10)
    _rpc_error(response, 413, -32600)


def test_a_2_kb_body_nested_1000_levels_is_a_parse_error(live_server_url):
    token = make_token(make_user("deep"))
    body = '{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"x": ' + "[" * 1000 + "]" * 1000 + "}}"
    response = httpx2.post(
        f"{live_server_url}/mcp", content=body.encode(), headers=_headers(token, **{MCP_VERSION: LEGACY}), timeout=5
    )
    error = _rpc_error(response, 400, -32700)
    assert "nested deeper than" in error["message"]


def test_the_real_client_still_works_after_the_checks(live_server_url):
    token = make_token(make_user("client"))

    async def scenario():
        async with http_session(live_server_url, token, mode="legacy") as legacy:
            first = await legacy.list_tools()
        async with http_session(live_server_url, token) as modern:
            second = await modern.list_tools()
        return first, second

    first, second = run(scenario())
    assert first.tools and second.tools
