"""The real openai/anthropic SDKs, through our adapters, against the fake provider server."""

from __future__ import annotations

import json
import socket
import time
import traceback
from dataclasses import dataclass

import pytest

from apps.providers.adapters import get_adapter
from apps.providers.adapters.openai_compatible import PLACEHOLDER_API_KEY
from apps.providers.errors import ProviderError
from apps.providers.types import ChatMessage, CompletionRequest, StreamDone, TextDelta, ToolCall
from tests.fakes.provider_server import ANTHROPIC, MODELS, OPENAI, FakeProviderServer, Scripted, ScriptedToolCall
from tests.providers.helpers import TODO_TOOLS, task, user_request

KEY = "sk-test-4f1c2e9a7b"


@dataclass(frozen=True)
class Vendor:
    kind: str
    route: str

    def base_url(self, server: FakeProviderServer) -> str:
        return server.anthropic_base_url if self.route == ANTHROPIC else server.openai_base_url


VENDORS = [Vendor("openai", OPENAI), Vendor("openai_compatible", OPENAI), Vendor("anthropic", ANTHROPIC)]


@pytest.fixture(params=VENDORS, ids=lambda v: v.kind)
def vendor(request) -> Vendor:
    return request.param


def run(vendor: Vendor, server: FakeProviderServer, request: CompletionRequest, *, stream: bool, key: str = KEY, timeout: float = 5.0):
    """Complete or stream; return (reply, text deltas)."""
    adapter = get_adapter(vendor.kind)
    kwargs = {"api_key": key, "base_url": vendor.base_url(server), "timeout": timeout}
    if not stream:
        return adapter.complete(request, **kwargs), []
    events = list(adapter.stream(request, **kwargs))
    assert isinstance(events[-1], StreamDone)
    assert all(isinstance(e, TextDelta) for e in events[:-1])
    return events[-1].reply, [e.text for e in events[:-1]]


# -- plain text -----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_text_reply_with_usage_reaches_the_caller(fake_provider, vendor, stream):
    fake_provider.reply_text(vendor.route, "You have 2 tasks.", usage=(42, 8))

    reply, deltas = run(vendor, fake_provider, user_request("what's on my list"), stream=stream)

    assert reply.text == "You have 2 tasks."
    assert reply.finish_reason == "stop"
    assert reply.tool_calls == ()
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (42, 8)
    assert reply.model == "test-model"
    assert reply.provider_request_id and reply.provider_request_id.startswith("req_")
    if stream:
        assert len(deltas) > 1 and "".join(deltas) == reply.text
    requests = fake_provider.requests_to(vendor.route)
    assert len(requests) == 1
    assert requests[0].stream is stream
    assert requests[0].api_key() == KEY


def test_openai_request_carries_tools_system_and_token_limit(fake_provider):
    get_adapter("openai").complete(
        CompletionRequest(
            model="gpt-x",
            messages=(ChatMessage("system", "Be brief."), ChatMessage("user", "hi")),
            tools=TODO_TOOLS,
            max_tokens=300,
            temperature=0.2,
        ),
        api_key=KEY,
        base_url=fake_provider.openai_base_url,
        timeout=5,
    )
    body = fake_provider.last(OPENAI).body
    assert fake_provider.last(OPENAI).headers["authorization"] == f"Bearer {KEY}"
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert body["max_completion_tokens"] == 300 and "max_tokens" not in body
    assert body["temperature"] == 0.2
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "add_task",
            "description": "Add a task.",
            "parameters": TODO_TOOLS[0].input_schema,
        },
    }


def test_openai_compatible_uses_max_tokens_and_a_placeholder_key_when_none_is_set(fake_provider):
    get_adapter("openai_compatible").complete(
        user_request("hi"), api_key="", base_url=fake_provider.openai_base_url, timeout=5
    )
    recorded = fake_provider.last(OPENAI)
    assert recorded.body["max_tokens"] == 1024 and "max_completion_tokens" not in recorded.body
    assert recorded.headers["authorization"] == f"Bearer {PLACEHOLDER_API_KEY}"


@pytest.mark.parametrize("stream", [False, True])
def test_openai_compatible_refuses_to_run_without_a_base_url(stream):
    adapter = get_adapter("openai_compatible")
    with pytest.raises(ProviderError) as info:
        if stream:
            adapter.stream(user_request("hi"), api_key="", base_url="", timeout=1)
        else:
            adapter.complete(user_request("hi"), api_key="", base_url="", timeout=1)
    assert info.value.kind == "bad_request"


def test_anthropic_request_has_separate_system_prompt_and_tool_schemas(fake_provider):
    get_adapter("anthropic").complete(
        CompletionRequest(
            model="claude-x",
            messages=(ChatMessage("system", "Be brief."), ChatMessage("system", "Use tools."), ChatMessage("user", "hi")),
            tools=TODO_TOOLS,
            max_tokens=300,
        ),
        api_key=KEY,
        base_url=fake_provider.anthropic_base_url,
        timeout=5,
    )
    recorded = fake_provider.last(ANTHROPIC)
    body = recorded.body
    assert recorded.api_key() == KEY
    assert "anthropic-version" in recorded.headers
    assert body["system"] == "Be brief.\n\nUse tools."
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert body["max_tokens"] == 300
    assert "temperature" not in body
    assert body["tools"][1] == {
        "name": "list_tasks",
        "description": "List tasks.",
        "input_schema": TODO_TOOLS[1].input_schema,
    }


@pytest.mark.parametrize("kind, env, url_attr", [
    ("openai", "OPENAI_BASE_URL", "openai_base_url"),
    ("anthropic", "ANTHROPIC_BASE_URL", "anthropic_base_url"),
])
def test_blank_base_url_means_the_sdk_default_which_honours_the_environment(fake_provider, monkeypatch, kind, env, url_attr):
    monkeypatch.setenv(env, getattr(fake_provider, url_attr))
    reply = get_adapter(kind).complete(user_request("ping"), api_key=KEY, base_url="", timeout=5)
    assert reply.text == "echo: ping"
    assert len(fake_provider.requests) == 1


# -- tool calls -------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_tool_call_round_trip(fake_provider, vendor, stream):
    # Given the model asks to add a task
    fake_provider.reply_tool_calls(
        vendor.route, [ScriptedToolCall("add_task", {"title": "buy milk", "priority": "high"}, id="call_add_1")]
    )
    first = user_request("add buy milk, high priority")

    # When we run the turn
    reply, _ = run(vendor, fake_provider, first, stream=stream)

    # Then we get the call, parsed
    assert reply.finish_reason == "tool_calls"
    assert reply.tool_calls == (
        ToolCall(
            id="call_add_1",
            name="add_task",
            arguments={"title": "buy milk", "priority": "high"},
            raw_arguments=reply.tool_calls[0].raw_arguments,
        ),
    )
    assert json.loads(reply.tool_calls[0].raw_arguments) == {"title": "buy milk", "priority": "high"}

    # And when we send the tool result back, the model answers in text
    fake_provider.reply_text(vendor.route, "Added “buy milk” (#12).")
    result = json.dumps(task(12, "buy milk", priority="high"))
    second = CompletionRequest(
        model="test-model",
        tools=TODO_TOOLS,
        messages=first.messages
        + (
            ChatMessage("assistant", reply.text, tool_calls=reply.tool_calls),
            ChatMessage("tool", result, tool_call_id="call_add_1", name="add_task"),
        ),
    )
    final, _ = run(vendor, fake_provider, second, stream=stream)
    assert final.text == "Added “buy milk” (#12)."
    assert final.finish_reason == "stop"

    sent = fake_provider.last(vendor.route).body["messages"]
    if vendor.route == OPENAI:
        assert sent[-2] == {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_add_1",
                    "type": "function",
                    "function": {"name": "add_task", "arguments": reply.tool_calls[0].raw_arguments},
                }
            ],
        }
        assert sent[-1] == {"role": "tool", "tool_call_id": "call_add_1", "content": result}
    else:
        assert sent[-2] == {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_add_1", "name": "add_task", "input": {"title": "buy milk", "priority": "high"}}
            ],
        }
        assert sent[-1] == {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "call_add_1", "content": result, "is_error": False}],
        }
    assert len(fake_provider.requests) == 2


def test_anthropic_merges_consecutive_tool_results_into_one_user_message(fake_provider):
    calls = (
        ToolCall(id="t1", name="complete_task", arguments={"task_id": 1}, raw_arguments='{"task_id": 1}'),
        ToolCall(id="t2", name="add_task", arguments=None, raw_arguments="{oops", error="bad json"),
    )
    request = CompletionRequest(
        model="claude-x",
        tools=TODO_TOOLS,
        messages=(
            ChatMessage("user", "finish 1 and add something"),
            ChatMessage("assistant", "On it.", tool_calls=calls),
            ChatMessage("tool", json.dumps(task(1, "a", completed=True)), tool_call_id="t1", name="complete_task"),
            ChatMessage("tool", '{"error": "bad json"}', tool_call_id="t2", name="add_task", is_error=True),
        ),
    )
    get_adapter("anthropic").complete(request, api_key=KEY, base_url=fake_provider.anthropic_base_url, timeout=5)
    messages = fake_provider.last(ANTHROPIC).body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"][0] == {"type": "text", "text": "On it."}
    assert messages[1]["content"][2]["input"] == {}  # unparseable arguments are not forwarded
    results = messages[2]["content"]
    assert [(r["tool_use_id"], r["is_error"]) for r in results] == [("t1", False), ("t2", True)]


def test_openai_marks_tool_errors_in_the_content(fake_provider):
    call = ToolCall(id="t1", name="get_task", arguments={"task_id": 9}, raw_arguments='{"task_id": 9}')
    request = CompletionRequest(
        model="gpt-x",
        messages=(
            ChatMessage("user", "show 9"),
            ChatMessage("assistant", "", tool_calls=(call,)),
            ChatMessage("tool", '{"error": "not found"}', tool_call_id="t1", name="get_task", is_error=True),
        ),
    )
    get_adapter("openai").complete(request, api_key=KEY, base_url=fake_provider.openai_base_url, timeout=5)
    assert fake_provider.last(OPENAI).body["messages"][-1] == {
        "role": "tool", "tool_call_id": "t1", "content": 'ERROR: {"error": "not found"}'
    }


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("raw", ['{"title": "buy', "[1, 2]"])
def test_invalid_tool_arguments_come_back_as_a_call_with_an_error(fake_provider, vendor, stream, raw):
    fake_provider.reply_tool_calls(vendor.route, [("add_task", raw), ("list_tasks", {"status": "pending"})])
    reply, _ = run(vendor, fake_provider, user_request("add something"), stream=stream)
    bad, good = reply.tool_calls
    assert bad.name == "add_task" and bad.arguments is None and bad.error
    assert good.arguments == {"status": "pending"} and good.error is None
    assert reply.finish_reason == "tool_calls"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_unknown_tool_name_is_passed_through_for_the_caller_to_refuse(fake_provider, vendor, stream):
    fake_provider.reply_tool_calls(vendor.route, [("launch_rockets", {"count": 3})], text="Sure.")
    reply, _ = run(vendor, fake_provider, user_request("launch"), stream=stream)
    assert reply.text == "Sure."
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("launch_rockets", {"count": 3})]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_length_finish_is_reported(fake_provider, vendor, stream):
    fake_provider.reply_text(vendor.route, "This got cut", finish="length" if vendor.route == OPENAI else "max_tokens")
    reply, _ = run(vendor, fake_provider, user_request("write an essay"), stream=stream)
    assert reply.finish_reason == "length"


# -- faults -------------------------------------------------------------------------------------

HTTP_FAULTS = [
    # fault, kind, retryable, retry_after
    ("rate_limited", "rate_limited", True, 7.0),
    ("unauthorized", "auth", False, None),
    ("forbidden", "auth", False, None),
    ("server_error", "unavailable", True, None),
    ("unavailable", "unavailable", True, None),
    ("overloaded", "unavailable", True, None),
    ("context_too_long", "context_too_long", False, None),
    ("bad_request", "bad_request", False, None),
    ("not_found", "bad_request", False, None),
    ("malformed", "bad_response", False, None),
]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("fault, kind, retryable, retry_after", HTTP_FAULTS, ids=[f[0] for f in HTTP_FAULTS])
def test_http_faults_map_to_provider_errors_without_sdk_retries(
    fake_provider, vendor, stream, fault, kind, retryable, retry_after
):
    fake_provider.fault(vendor.route, fault)
    fake_provider.reply_text(vendor.route, "a retry would get this")  # must stay unconsumed

    with pytest.raises(ProviderError) as info:
        run(vendor, fake_provider, user_request("hi"), stream=stream)

    err = info.value
    assert (err.kind, err.retryable, err.retry_after) == (kind, retryable, retry_after)
    assert err.provider == vendor.kind
    assert len(fake_provider.requests_to(vendor.route)) == 1, "the SDK retried on its own"
    assert fake_provider.pending(vendor.route) == 1


STREAM_FAULTS = [
    ("cut_stream", "bad_response", False),
    ("stream_no_finish", "bad_response", False),
    ("empty_choices", "bad_response", False),
    ("stream_error_event", "unavailable", True),
]


@pytest.mark.parametrize("fault, kind, retryable", STREAM_FAULTS, ids=[f[0] for f in STREAM_FAULTS])
def test_broken_streams_map_to_provider_errors(fake_provider, vendor, fault, kind, retryable):
    fake_provider.enqueue(vendor.route, Scripted(text="Here is a long answer that breaks", fault=fault))
    adapter = get_adapter(vendor.kind)
    received = []
    with pytest.raises(ProviderError) as info:
        for event in adapter.stream(user_request("hi"), api_key=KEY, base_url=vendor.base_url(fake_provider), timeout=5):
            received.append(event)
    assert (info.value.kind, info.value.retryable) == (kind, retryable)
    assert not any(isinstance(e, StreamDone) for e in received)
    assert len(fake_provider.requests_to(vendor.route)) == 1


def test_empty_choices_in_a_plain_reply_is_a_bad_response(fake_provider, vendor):
    fake_provider.fault(vendor.route, "empty_choices")
    with pytest.raises(ProviderError) as info:
        run(vendor, fake_provider, user_request("hi"), stream=False)
    assert info.value.kind == "bad_response"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_slow_provider_times_out_once(fake_provider, vendor, stream):
    fake_provider.fault(vendor.route, "slow", delay=3.0)
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        run(vendor, fake_provider, user_request("hi"), stream=stream, timeout=1.0)
    assert time.monotonic() - started < 2.0
    assert (info.value.kind, info.value.retryable) == ("timeout", True)
    for _ in range(20):  # the server thread records the request a moment after the client gave up
        if fake_provider.requests_to(vendor.route):
            break
        time.sleep(0.05)
    assert len(fake_provider.requests_to(vendor.route)) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_unreachable_provider_is_unavailable_and_retryable(vendor, stream):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}" + ("/v1" if vendor.route == OPENAI else "")
    adapter = get_adapter(vendor.kind)
    with pytest.raises(ProviderError) as info:
        if stream:
            list(adapter.stream(user_request("hi"), api_key=KEY, base_url=base, timeout=2))
        else:
            adapter.complete(user_request("hi"), api_key=KEY, base_url=base, timeout=2)
    assert (info.value.kind, info.value.retryable) == ("unavailable", True)


# -- key validation --------------------------------------------------------------------------------


def test_validate_key_accepts_a_good_key_with_one_cheap_request(fake_provider, vendor):
    fake_provider.expected_key = KEY
    get_adapter(vendor.kind).validate_key(api_key=KEY, base_url=vendor.base_url(fake_provider), timeout=5)
    (recorded,) = fake_provider.requests
    assert (recorded.method, recorded.route) == ("GET", MODELS)
    assert recorded.api_key() == KEY


def test_validate_key_rejects_a_wrong_key_as_auth(fake_provider, vendor):
    fake_provider.expected_key = KEY
    with pytest.raises(ProviderError) as info:
        get_adapter(vendor.kind).validate_key(api_key="sk-wrong", base_url=vendor.base_url(fake_provider), timeout=5)
    assert info.value.kind == "auth" and info.value.code == "provider_auth_failed"
    assert len(fake_provider.requests) == 1


# -- secrets ----------------------------------------------------------------------------------------

CANARY = "sk-CANARY-7d3f9b21e0c84a55"
_EITHER = [f[0] for f in HTTP_FAULTS] + ["slow", "empty_choices"]
_STREAM_ONLY = ["cut_stream", "stream_no_finish", "stream_error_event"]
CANARY_CASES = [(f, False) for f in _EITHER] + [(f, True) for f in _EITHER + _STREAM_ONLY]


def _all_text(err: ProviderError) -> str:
    return "\n".join(
        [
            str(err),
            repr(err),
            err.message,
            json.dumps(err.extra),
            json.dumps(err.as_dict()),
            "".join(traceback.format_exception(err)),
        ]
    )


@pytest.mark.parametrize("fault, stream", CANARY_CASES, ids=[f"{f}-{'stream' if s else 'plain'}" for f, s in CANARY_CASES])
def test_the_api_key_never_appears_in_error_text(fake_provider, vendor, stream, fault):
    # The fake's 401/403 bodies echo the key back, as a careless upstream might.
    fake_provider.enqueue(vendor.route, Scripted(text="partial answer here", fault=fault, delay=2.0))
    with pytest.raises(ProviderError) as info:
        run(vendor, fake_provider, user_request("hi"), stream=stream, key=CANARY, timeout=1.0)
    assert fake_provider.last(vendor.route).api_key() == CANARY  # it did travel to the provider
    text = _all_text(info.value)
    assert CANARY not in text
    assert CANARY[-10:] not in text
    # No SDK exception is chained in where a traceback printer would show it.
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__
