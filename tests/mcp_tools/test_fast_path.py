"""/mcp's tools/call fast path answers exactly as the SDK's app does (MCP_FAST_PATH on vs off)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from oauth2_provider.models import AccessToken as OAuthAccessToken
from oauth2_provider.models import Application

import apps.mcp_tools.fast_path as fast_path
import apps.mcp_tools.http as mcp_http
from apps.audit.models import AuditEvent
from apps.keys.services import access_token_create, access_token_revoke
from apps.limits.models import UserPolicy
from apps.mcp_tools.services import tool_registration_update
from apps.todos.models import Task, TaskList
from tests.factories import make_task, make_token, make_user
from tests.mcp_tools.conftest import PROTOCOL_MODES, http_session, run

pytestmark = pytest.mark.django_db(transaction=True)

LEGACY = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "Mcp-Protocol-Version": "2025-11-25",
}
COMPARED_HEADERS = ("content-type", "www-authenticate", "retry-after", "allow", "mcp-session-id")
_RAW_CALL = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_task", "arguments": %s}}'
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def _recording(monkeypatch, module: Any, name: str, outcome) -> list[bool]:
    """Replace module.name (a coroutine function) with one that notes outcome(its answer) per call."""
    seen: list[bool] = []
    original = getattr(module, name)

    async def recording(*args):
        answer = await original(*args)
        seen.append(outcome(answer))
        return answer

    monkeypatch.setattr(module, name, recording)
    return seen


@pytest.fixture
def taken(monkeypatch):
    """What the fast path answered (True) or left to the SDK (False), request by request."""
    return _recording(monkeypatch, mcp_http, "answer_tools_call", bool)


@pytest.fixture
def direct(monkeypatch):
    """Of the calls the fast path took: answered without the SDK's kernel (True) or through it (False)."""
    return _recording(monkeypatch, fast_path, "serve_direct", lambda answer: answer is not None)


def _rpc(name: str, arguments: Any = None, *, request_id: Any = 1, **params: Any) -> dict:
    body: dict[str, Any] = {"name": name, **params}
    if arguments is not None:
        body["arguments"] = arguments
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": body}


def _post(url: str, token: str | None, message: Any, headers: dict[str, str] | None = None) -> httpx2.Response:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    content = message if isinstance(message, bytes) else json.dumps(message).encode()
    return httpx2.post(f"{url}/mcp", content=content, headers={**LEGACY, **auth, **(headers or {})}, timeout=15)


def _normalized(value: Any, ids: dict[int, str]) -> Any:
    """The answer with this run's ids and timestamps replaced, so two runs on their own data compare."""
    if isinstance(value, dict):
        return {key: _normalized(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalized(item, ids) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return ids.get(value, value)  # ids are past _ID_FLOOR: no count, limit or JSON-RPC id is one
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict | list):  # a text content carrying the structured result
            return _normalized(parsed, ids)
        value = _TIMESTAMP.sub("<time>", value)
        for number, name in ids.items():  # an id in a message ("Task 1234 ...")
            value = re.sub(rf"(?<![\d.-]){number}(?![\d.-])", name, value)
        return value
    return value


def _answer(response: httpx2.Response, ids: dict[int, str]) -> tuple:
    headers = {name: response.headers.get(name) for name in COMPARED_HEADERS}
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return response.status_code, headers, _normalized(body, ids)


_ID_FLOOR = 300


def _ids_past_the_floor() -> None:
    """Push the task and list ids past any small number the answers also contain (counts, limits)."""
    scratch = make_user("id-floor")
    inbox = TaskList.objects.create(owner=scratch, name="floor")
    TaskList.objects.bulk_create(TaskList(owner=scratch, name=f"l{n}") for n in range(_ID_FLOOR))
    # Task ids past the list ids too: one number, one meaning.
    Task.objects.bulk_create(Task(owner=scratch, task_list=inbox, title=f"t{n}") for n in range(3 * _ID_FLOOR))
    Task.objects.filter(owner=scratch).delete()
    TaskList.objects.filter(owner=scratch).delete()


def _ids_of(users, seen: tuple[set, set] = (set(), set())) -> tuple[set, set]:
    tasks = set(Task.objects.filter(owner__in=users).values_list("pk", flat=True))
    lists = set(TaskList.objects.filter(owner__in=users).values_list("pk", flat=True))
    return seen[0] | tasks, seen[1] | lists


def _placeholders(tasks: set, lists: set) -> dict[int, str]:
    return {
        **{pk: f"<task{n}>" for n, pk in enumerate(sorted(tasks))},
        **{pk: f"<list{n}>" for n, pk in enumerate(sorted(lists))},
    }


def _oauth_token(user, scope: str) -> str:
    application = Application.objects.create(
        name="desktop", client_type="public", authorization_grant_type="authorization-code",
        redirect_uris="http://127.0.0.1/cb", user=None,
    )
    plaintext = "tdo_" + secrets.token_urlsafe(32)
    OAuthAccessToken.objects.create(
        user=user, application=application, token=plaintext, scope=scope,
        expires=timezone.now() + timedelta(hours=1), resource=[settings.OAUTH_RESOURCES[0]],
    )
    return plaintext


def _matrix(url: str, label: str) -> list[tuple]:
    """Every request shape against one fresh set of users and tasks; the answers in order."""
    operator = make_user(f"op-{label}")
    user, other = make_user(f"fast-{label}"), make_user(f"other-{label}")
    own = make_task(user, title="alpha", description="d", due_date=timezone.localdate())
    foreign = make_task(other, title="not yours")
    token = make_token(user)
    revoked = access_token_create(user=user, name="old")
    access_token_revoke(user=user, token_id=revoked.token.pk)
    reader = _oauth_token(user, "tasks:read")
    limited = make_user(f"limited-{label}")
    UserPolicy.objects.create(user=limited, mcp_calls_per_minute=1)
    limited_token = make_token(limited)
    requests: list[tuple[str | None, Any, dict | None]] = [
        (token, _rpc("get_task", {"task_id": own.pk}), None),
        (token, _rpc("get_task", {"task_id": own.pk}, request_id="req-a"), None),
        (token, _rpc("get_task", {"task_id": own.pk}), {"Mcp-Protocol-Version": ""}),
        (token, _rpc("get_task", {"task_id": foreign.pk}), None),  # another user's: not found
        (token, _rpc("get_task", {"task_id": 10**9}), None),
        (token, _rpc("get_task", {"task_id": "abc"}), None),
        (token, _rpc("get_task", {"task_id": True}), None),
        (token, _rpc("get_task", {}), None),
        (token, _rpc("get_task"), None),  # no arguments at all
        (token, _rpc("get_task", {"task_id": own.pk, "user_id": other.pk}), None),
        (token, _rpc("get_task", ["not", "an", "object"]), None),
        (token, _rpc("no_such_tool", {}), None),
        (token, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"arguments": {}}}, None),
        (token, {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}, None),
        (token, {**_rpc("get_task"), "extra": 1}, None),
        (token, _rpc("get_task", {"task_id": own.pk}, _meta={"progressToken": "p1"}), {"Accept": "application/json"}),
        (token, _rpc("list_labels", {}), None),  # disabled below, while the matrix runs
        (revoked.plaintext, _rpc("get_task", {"task_id": own.pk}), None),
        (None, _rpc("get_task", {"task_id": own.pk}), None),
        (token + "x", _rpc("get_task", {"task_id": own.pk}), None),
        (reader, _rpc("get_task", {"task_id": own.pk}), None),
        (reader, _rpc("add_task", {"title": "no"}), None),  # lacks tasks:write
        (limited_token, _rpc("get_task", {"task_id": 1}), None),
        (limited_token, _rpc("get_task", {"task_id": 1}), None),  # over the limit
        (token, _rpc("get_task", {"task_id": own.pk}), {"Accept": "text/event-stream"}),
        (token, _rpc("get_task", {"task_id": own.pk}), {"Content-Type": "text/plain"}),
        (token, _rpc("get_task", {"task_id": own.pk}), {"Content-Type": "application/json-seq"}),
        (token, [_rpc("get_task", {"task_id": own.pk})], None),  # a batch
        (token, {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "get_task"}}, None),  # notification
        (token, _RAW_CALL % b'{"task_id": 1e400}', None),  # a number Python's json and pydantic's read apart
        (token, _RAW_CALL % b'{"task_id": "\\ud800"}', None),  # a lone surrogate
        (token, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, None),
        # Each tool with valid arguments (writes last; structured output).
        (token, _rpc("add_task", {"title": "beta", "due_date": "2026-12-24", "priority": "high"}), None),
        (token, _rpc("add_tasks", {"tasks": [{"title": "a"}, {"title": "b", "priority": "low"}]}), None),
        (token, _rpc("list_tasks", {"status": "pending", "limit": 5}), None),
        (token, _rpc("find_tasks", {"window": "today"}), None),
        (token, _rpc("update_task", {"task_id": own.pk, "title": "renamed", "due_date": None}), None),
        (token, _rpc("update_tasks", {"updates": [{"task_id": own.pk, "priority": "low"}]}), None),
        (token, _rpc("complete_task", {"task_id": own.pk}), None),
        (token, _rpc("uncomplete_task", {"task_id": own.pk}), None),
        (token, _rpc("complete_tasks", {"task_ids": [own.pk]}), None),
        (token, _rpc("add_list", {"name": "Errands"}), None),
        (token, _rpc("list_lists", {}), None),
        (token, _rpc("task_statistics"), None),
        (token, _rpc("get_overview", {}), None),
        (token, _rpc("delete_task", {"task_id": own.pk}), None),
    ]
    before = _ids_of([user, other])  # some are deleted on the way
    tool_registration_update(actor=operator, name="list_labels", enabled=False)
    try:
        responses = [_post(url, *request[:2], request[2]) for request in requests]
    finally:
        tool_registration_update(actor=operator, name="list_labels", enabled=True)
    lists = TaskList.objects.filter(owner=user)
    renamed = _post(url, token, _rpc("rename_list", {"list_id": lists.get(name="Errands").pk, "name": "Shop"}))
    labels = _post(url, token, _rpc("list_labels", {}))
    ids = _placeholders(*_ids_of([user, other], before))
    return [_answer(response, ids) for response in [*responses, renamed, labels]]


def test_every_request_gets_the_same_answer_with_and_without_the_fast_path(live_server_url, taken, direct):
    _ids_past_the_floor()
    with override_settings(MCP_FAST_PATH=False):
        slow = _matrix(live_server_url, "slow")
    assert not any(taken) and not direct
    taken.clear()
    fast = _matrix(live_server_url, "fast")
    for index, (a, b) in enumerate(zip(slow, fast, strict=True)):
        assert a == b, (index, a, b)
    # The shapes it is for went through it, the rest to the SDK: it is not a no-op.
    assert sum(taken) >= 25 and not all(taken)
    # Of those, the plain calls skipped the SDK's kernel; four went through it, for the SDK's own
    # answer: arguments that are a list, no name, no params, a progress token.
    assert len(direct) == sum(taken) and len(direct) - sum(direct) == 4, direct
    assert fast[0][0] == 200 and fast[0][2]["result"]["structuredContent"]["title"] == "alpha"
    assert fast[17][0] == 401 and fast[21][0] == 403 and fast[23][0] == 429


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
def test_the_real_client_reads_the_same_results_either_way(live_server_url, taken, mode):
    user = make_user(f"client-{mode}")
    task = make_task(user, title="read me")
    token = make_token(user)

    async def scenario():
        async with http_session(live_server_url, token, mode=mode) as client:
            return [
                (await client.call_tool(name, arguments)).model_dump(mode="json")
                for name, arguments in [
                    ("get_task", {"task_id": task.pk}),
                    ("get_task", {"task_id": "x"}),
                    ("no_such_tool", {}),
                    ("list_tasks", {}),
                    ("task_statistics", {}),
                ]
            ]

    with override_settings(MCP_FAST_PATH=False):
        slow = run(scenario())
    assert not any(taken)
    fast = run(scenario())
    assert sum(taken) == 5
    assert fast == slow
    assert fast[0]["structured_content"]["title"] == "read me"


def test_audit_rows_carry_the_same_request_id_address_outcome_and_token_prefix(live_server_url, taken):
    user = make_user("audited-fast")
    created = access_token_create(user=user, name="desktop")
    task = make_task(user, title="t")
    rows = []
    for fast, request_id in [(False, "slow-1"), (True, "fast-1")]:
        with override_settings(MCP_FAST_PATH=fast):
            for arguments in ({"task_id": task.pk}, {"task_id": "x"}):
                assert _post(live_server_url, created.plaintext, _rpc("get_task", arguments),
                             {"X-Request-ID": request_id}).status_code == 200
        events = AuditEvent.objects.filter(action="mcp.tool_call", request_id=request_id).order_by("pk")
        rows.append([
            (e.actor_id, e.target_id, e.outcome, e.client_ip, {k: v for k, v in e.metadata.items() if k != "latency_ms"})
            for e in events
        ])
    assert taken == [True, True]
    assert rows[0] == rows[1] and len(rows[0]) == 2
    assert rows[1][0][4]["token_prefix"] == created.token.prefix and rows[1][1][4]["error_code"] == "invalid_arguments"


def test_a_revoked_token_is_refused_on_its_very_next_fast_call(live_server_url, taken):
    user = make_user("revoked-fast")
    created = access_token_create(user=user, name="t")
    task = make_task(user, title="t")
    assert _post(live_server_url, created.plaintext, _rpc("get_task", {"task_id": task.pk})).status_code == 200
    access_token_revoke(user=user, token_id=created.token.pk)
    refused = _post(live_server_url, created.plaintext, _rpc("get_task", {"task_id": task.pk}))
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert taken == [True, False]


def test_two_users_calling_at_once_each_get_only_their_own_task(live_server_url, taken):
    users = [make_user(f"concurrent-{n}") for n in range(2)]
    tasks = [make_task(user, title=f"task of {user.username}") for user in users]
    tokens = [make_token(user) for user in users]

    async def scenario():
        async with httpx2.AsyncClient(timeout=15) as http:
            async def one(n: int, target: int):
                response = await http.post(
                    f"{live_server_url}/mcp",
                    content=json.dumps(_rpc("get_task", {"task_id": tasks[target].pk}, request_id=n)).encode(),
                    headers={**LEGACY, "Authorization": f"Bearer {tokens[n % 2]}"},
                )
                return n, target, response.json()

            return await asyncio.gather(*(one(n, (n // 2) % 2) for n in range(40)))

    for n, target, body in run(scenario()):
        result = body["result"]
        if n % 2 == target:
            assert result["structuredContent"]["title"] == f"task of {users[target].username}"
        else:
            assert result["isError"] and "structuredContent" not in result  # the other user's: not found
    assert len(taken) == 40 and all(taken)


class _Span:
    def __init__(self, name: str, kind: Any, attributes: dict) -> None:
        self.name, self.kind, self.attributes, self.status = name, kind, attributes, None

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: dict) -> None:
        self.attributes.update(attributes)

    def set_status(self, code: Any, description: str | None = None) -> None:
        self.status = (code, description)

    def record_exception(self, exc: BaseException) -> None:
        self.attributes["exception"] = type(exc).__name__


class _Tracer:
    """Stands in for the SDK's OpenTelemetry tracer: the spans it was asked to start, in order."""

    def __init__(self) -> None:
        self.spans: list[_Span] = []

    @contextlib.contextmanager
    def start_as_current_span(self, name: str, *, kind: Any, attributes: dict | None = None, **_options: Any):
        span = _Span(name, kind, dict(attributes or {}))
        self.spans.append(span)
        yield span


def test_the_sdk_span_of_each_call_is_the_same_without_the_kernel(live_server_url, taken, direct, monkeypatch):
    import mcp.shared._otel as sdk_otel

    user = make_user("traced")
    task = make_task(user, title="t")
    token = make_token(user)
    calls = [
        _rpc("get_task", {"task_id": task.pk}, request_id=7),
        _rpc("get_task", {"task_id": "x"}, request_id="r-2"),  # a tool error: the span's status says so
        _rpc("no_such_tool", {}, request_id=3),
        _rpc("get_task", {"task_id": task.pk}, request_id=4, _meta={"progressToken": "p"}),  # the kernel's
    ]
    seen = []
    for fast in (False, True):
        tracer = _Tracer()
        monkeypatch.setattr(sdk_otel, "_tracer", tracer)
        with override_settings(MCP_FAST_PATH=fast):
            for call in calls:
                assert _post(live_server_url, token, call, {"Accept": "application/json"}).status_code == 200
        seen.append([(span.name, span.kind, span.attributes, span.status) for span in tracer.spans])
    assert seen[0] == seen[1] and len(seen[0]) == len(calls)
    assert seen[1][0][0] == "tools/call get_task" and seen[1][0][2]["jsonrpc.request.id"] == "7"
    assert seen[1][1][2]["error.type"] == "tool_error" and seen[1][0][3] is None
    assert taken == [True] * len(calls) and direct == [True, True, True, False]


@pytest.mark.parametrize("failure", ["crash", "database lost"])
def test_a_tool_that_fails_unexpectedly_gets_the_same_generic_answer_either_way(live_server_url, taken, direct,
                                                                                  monkeypatch, failure):
    import apps.todos.mcp_tools as todo_tools
    from django.db import OperationalError

    def failing(**_kwargs):
        if failure == "crash":
            raise RuntimeError("secret internals /srv/app.py line 3")
        raise OperationalError("server closed the connection unexpectedly (secret host db-7)")

    user = make_user(f"failing-{failure.split()[0]}")
    task = make_task(user, title="t")
    token = make_token(user)
    monkeypatch.setattr(todo_tools, "task_get", failing)
    answers = []
    with override_settings(TOOL_RESULT_CACHE_SECONDS=0):
        for fast in (False, True):
            with override_settings(MCP_FAST_PATH=fast):
                response = _post(live_server_url, token, _rpc("get_task", {"task_id": task.pk}))
            answers.append((response.status_code, response.json()))
    assert answers[0] == answers[1]
    status, body = answers[1]
    assert status == 200 and body["result"]["isError"] is True
    assert "secret" not in json.dumps(body)
    assert taken == [True] and direct == [True]
    outcomes = list(AuditEvent.objects.filter(actor=user, action="mcp.tool_call").values_list("outcome", "metadata"))
    assert [(outcome, metadata["error_code"]) for outcome, metadata in outcomes] == [("failure", "internal_error")] * 2


def test_a_tool_error_on_the_direct_path_reads_no_log_level(live_server_url, taken, direct, monkeypatch):
    import apps.mcp_tools.features as features
    import apps.mcp_tools.server as mcp_server

    reads = _recording(monkeypatch, mcp_server, "log_to_client", lambda _answer: True)
    levels: list[str] = []
    original = features._level_read
    monkeypatch.setattr(features, "_level_read", lambda key: levels.append(key) or original(key))
    token = make_token(make_user("quiet-errors"))
    response = _post(live_server_url, token, _rpc("get_task", {"task_id": "x"}))
    assert response.status_code == 200 and response.json()["result"]["isError"] is True
    assert taken == [True] and direct == [True] and reads == [True]
    assert levels == []  # no session to send a log message on: no thread hop to read its level
