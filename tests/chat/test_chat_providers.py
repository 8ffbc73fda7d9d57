"""A chat turn through both wire formats, plain and streaming, with the real SDKs against the fake server."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent, UsageRecord
from apps.chat.models import Message
from apps.providers.models import ProviderConfig
from apps.todos.models import Task
from tests.chat.conftest import ANTHROPIC_KEY, OPENAI_KEY, post_chat, use
from tests.factories import make_task

pytestmark = pytest.mark.django_db

PROVIDERS = ["openai", "anthropic"]


def operation_script(user):
    """(message, tool, arguments builder, check) for each todo operation."""
    return [
        ("add buy milk", "add_task", lambda t: {"title": "buy milk"},
         lambda t: Task.objects.filter(owner=user, title="buy milk").exists()),
        ("what's on my list", "list_tasks", lambda t: {"status": "pending"}, lambda t: True),
        ("mark it done", "complete_task", lambda t: {"task_id": t.pk},
         lambda t: Task.objects.get(pk=t.pk).completed),
        ("rename it to oat milk", "update_task", lambda t: {"task_id": t.pk, "title": "oat milk"},
         lambda t: Task.objects.get(pk=t.pk).title == "oat milk"),
        ("delete it", "delete_task", lambda t: {"task_id": t.pk},
         lambda t: not Task.objects.filter(pk=t.pk).exists()),
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streaming"])
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("operation", range(5), ids=["add", "list", "complete", "update", "delete"])
def test_each_todo_operation_through_each_wire_format(client_a, keyed_user, providers_at_fake, provider, stream, operation):
    use(keyed_user, provider)
    task = make_task(keyed_user, title="milk")
    message, tool, arguments, check = operation_script(keyed_user)[operation]
    providers_at_fake.reply_tool_calls(provider, [(tool, arguments(task))], usage=(100, 20))
    providers_at_fake.reply_text(provider, "Done.", usage=(150, 10))

    answer = post_chat(client_a, message, stream=stream)

    assert check(task), f"{tool} did not change the task list"
    assert [c["name"] for c in answer["tool_calls"]] == [tool] and answer["tool_calls"][0]["is_error"] is False
    assert answer["reply"] == "Done." and answer["provider"] == provider and not answer["fallback_used"]
    assert answer["usage"]["input_tokens"] == 250 and answer["usage"]["output_tokens"] == 30
    config = ProviderConfig.objects.get(name=provider)
    expected = (250 * config.price_input_per_million + 30 * config.price_output_per_million) / Decimal(1_000_000)
    assert Decimal(str(answer["usage"]["cost"])) == expected.quantize(Decimal("1e-8"))
    sent = providers_at_fake.requests_to(provider)
    assert len(sent) == 2 and all(r.stream is stream for r in sent)
    assert sent[0].api_key() == (OPENAI_KEY if provider == "openai" else ANTHROPIC_KEY)
    # The tool result went back to the model in the second request.
    assert tool in str(sent[1].body)
    if stream:
        kinds = [e["type"] for e in answer["_events"]]
        assert "text" in kinds and "tool_call" in kinds


def test_the_answer_and_history_are_stored_with_usage_and_an_audit_row(client_a, keyed_user, providers_at_fake):
    providers_at_fake.reply_tool_calls("openai", [("add_task", {"title": "buy milk"})], usage=(100, 20))
    providers_at_fake.reply_text("openai", "Added buy milk.", usage=(150, 10))

    answer = post_chat(client_a, "add buy milk")

    roles = list(Message.objects.filter(conversation_id=answer["conversation_id"]).values_list("role", flat=True))
    assert roles == ["user", "assistant", "tool", "assistant"]
    records = UsageRecord.objects.filter(user=keyed_user)
    assert records.count() == 2 and sum(r.input_tokens for r in records) == 250
    event = AuditEvent.objects.get(action="chat.turn")
    assert event.metadata["tools"] == ["add_task"] and event.metadata["provider"] == "openai"


def test_a_conversation_switched_from_openai_to_anthropic_keeps_its_history(client_a, keyed_user, providers_at_fake):
    providers_at_fake.reply_tool_calls("openai", [("add_task", {"title": "buy milk"})])
    providers_at_fake.reply_text("openai", "Added buy milk.")
    first = post_chat(client_a, "add buy milk")
    milk = Task.objects.get(owner=keyed_user, title="buy milk")

    use(keyed_user, "anthropic")
    providers_at_fake.reply_tool_calls("anthropic", [("complete_task", {"task_id": milk.pk})])
    providers_at_fake.reply_text("anthropic", "Marked it done.")
    second = post_chat(client_a, "I bought it", conversation_id=first["conversation_id"])

    assert second["provider"] == "anthropic" and second["conversation_id"] == first["conversation_id"]
    assert Task.objects.get(pk=milk.pk).completed
    sent = providers_at_fake.requests_to("anthropic")[0].body
    blocks = [b for m in sent["messages"] if isinstance(m["content"], list) for b in m["content"]]
    assert any(b["type"] == "tool_use" and b["name"] == "add_task" for b in blocks)
    assert any(b["type"] == "tool_result" and "buy milk" in str(b["content"]) for b in blocks)
    assert sent["messages"][0] == {"role": "user", "content": "add buy milk"} or "add buy milk" in str(sent["messages"][0])

    # …and back to OpenAI, with Anthropic's turn in the history.
    use(keyed_user, "openai")
    providers_at_fake.reply_text("openai", "You have no pending tasks.")
    third = post_chat(client_a, "anything left?", conversation_id=first["conversation_id"])
    assert third["provider"] == "openai"
    history = providers_at_fake.requests_to("openai")[-1].body["messages"]
    assert any(m.get("role") == "tool" and "complete_task" not in m.get("content", "") for m in history)
    assert any(
        m.get("role") == "assistant" and any(c["function"]["name"] == "complete_task" for c in m.get("tool_calls") or [])
        for m in history
    )


def test_switching_the_preference_applies_from_the_next_turn(client_a, keyed_user, providers_at_fake):
    response = client_a.put("/api/v1/preferences/", {"provider": "anthropic", "model": "claude-sonnet-4-6"}, format="json")
    assert response.status_code == 200 and response.json() == {
        "provider": "anthropic", "model": "claude-sonnet-4-6", "has_usable_key": True, "answer_cache": True,
    }
    providers_at_fake.reply_text("anthropic", "Hello.")
    answer = post_chat(client_a, "hi")
    assert answer["provider"] == "anthropic" and answer["model"] == "claude-sonnet-4-6"
    assert providers_at_fake.last("anthropic").body["model"] == "claude-sonnet-4-6"
