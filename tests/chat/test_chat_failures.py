"""EC4 and friends: malformed provider output, provider failures, retries, failover. Never a 500."""

from __future__ import annotations

import pytest
from django.conf import settings

from apps.chat.models import Message
from apps.keys.models import ProviderKey
from apps.todos.models import Task
from tests.chat.conftest import post_chat, use

pytestmark = pytest.mark.django_db


def stored_history_is_consistent(conversation_id) -> bool:
    """Every assistant tool call is answered by a tool message, in order (nothing half-written)."""
    rows = list(Message.objects.filter(conversation_id=conversation_id).order_by("id"))
    i = 0
    while i < len(rows):
        if rows[i].role == "assistant" and rows[i].tool_calls:
            ids = [c["id"] for c in rows[i].tool_calls]
            if [r.tool_call_id for r in rows[i + 1 : i + 1 + len(ids)]] != ids:
                return False
            i += 1 + len(ids)
        else:
            i += 1
    return True


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_invalid_json_tool_arguments_go_back_to_the_model_as_a_tool_error(client_a, keyed_user, providers_at_fake, provider):
    use(keyed_user, provider)
    providers_at_fake.reply_tool_calls(provider, [("add_task", '{"title": "buy milk"')])  # cut-off JSON
    providers_at_fake.reply_text(provider, "Sorry, let me fix that.")

    answer = post_chat(client_a, "add buy milk")

    assert answer["tool_calls"][0]["is_error"] is True and not Task.objects.exists()
    assert "not valid JSON" in str(providers_at_fake.requests_to(provider)[1].body)
    assert answer["reply"] == "Sorry, let me fix that." and stored_history_is_consistent(answer["conversation_id"])


@pytest.mark.parametrize("stream", [False, True])
def test_an_unknown_tool_name_is_a_tool_error_for_the_model(client_a, keyed_user, providers_at_fake, stream):
    providers_at_fake.reply_tool_calls("openai", [("drop_database", {})])
    providers_at_fake.reply_text("openai", "That tool does not exist.")

    answer = post_chat(client_a, "do something odd", stream=stream)

    call = answer["tool_calls"][0]
    assert call["name"] == "drop_database" and call["is_error"] is True
    assert "drop_database" in providers_at_fake.requests_to("openai")[1].raw_body.decode()


@pytest.mark.parametrize("fault", ["empty_choices", "malformed"])
@pytest.mark.parametrize("stream", [False, True])
def test_unreadable_provider_answers_fail_over_to_offline(client_a, keyed_user, providers_at_fake, fault, stream):
    ProviderKey.objects.filter(owner=keyed_user, provider__name="anthropic").delete()  # offline is next in line
    providers_at_fake.fault("openai", fault)

    answer = post_chat(client_a, "add buy milk", stream=stream)

    assert answer["fallback_used"] is True and answer["provider"] == "offline"
    assert any("answered by Offline assistant" in w for w in answer["warnings"])
    assert Task.objects.filter(owner=keyed_user, title="buy milk").exists()  # offline did the job
    assert stored_history_is_consistent(answer["conversation_id"])


@pytest.mark.parametrize("fault", ["cut_stream", "stream_no_finish", "stream_error_event"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_reply_cut_off_mid_stream_ends_the_turn_with_a_clear_message(
    client_a, keyed_user, providers_at_fake, fault, provider
):
    use(keyed_user, provider)
    providers_at_fake.enqueue(provider, __import__("tests.fakes.provider_server", fromlist=["Scripted"]).Scripted(
        text="Here is a long answer that will not finish", fault=fault
    ))

    answer = post_chat(client_a, "tell me about my list", stream=True)

    assert answer["warnings"], answer
    assert "cut off" in answer["reply"] or answer["fallback_used"]
    last = Message.objects.filter(conversation_id=answer["conversation_id"]).order_by("id").last()
    assert last.role == "assistant" and last.content == answer["reply"]
    assert stored_history_is_consistent(answer["conversation_id"])


def test_a_rate_limit_is_retried_once_by_the_gateway(client_a, keyed_user, providers_at_fake):
    providers_at_fake.fault("openai", "rate_limited", retry_after="0")
    providers_at_fake.reply_text("openai", "Hello.")

    answer = post_chat(client_a, "hi")

    assert answer["reply"] == "Hello." and not answer["fallback_used"]
    assert len(providers_at_fake.requests_to("openai")) == 2  # no SDK retries on top


def test_a_provider_that_keeps_failing_falls_over_to_the_next_then_offline(client_a, keyed_user, providers_at_fake):
    for _ in range(settings.PROVIDER_MAX_RETRIES + 1):
        providers_at_fake.fault("openai", "server_error")
    providers_at_fake.reply_text("anthropic", "Anthropic here.")

    answer = post_chat(client_a, "hi")

    assert answer["provider"] == "anthropic" and answer["fallback_used"] and answer["reply"] == "Anthropic here."
    assert len(providers_at_fake.requests_to("openai")) == settings.PROVIDER_MAX_RETRIES + 1

    for _ in range(settings.PROVIDER_MAX_RETRIES + 1):
        providers_at_fake.fault("openai", "unavailable")
    for _ in range(settings.PROVIDER_MAX_RETRIES + 1):
        providers_at_fake.fault("anthropic", "overloaded")
    answer = post_chat(client_a, "add buy eggs")
    assert answer["provider"] == "offline" and Task.objects.filter(title="buy eggs").exists()


def test_a_refused_key_is_marked_invalid_and_the_turn_still_answers(client_a, keyed_user, providers_at_fake):
    providers_at_fake.fault("openai", "unauthorized")
    providers_at_fake.reply_text("anthropic", "Anthropic here.")

    answer = post_chat(client_a, "hi")

    key = ProviderKey.objects.get(owner=keyed_user, provider__name="openai")
    assert key.status == "invalid" and "refused" in key.status_detail
    assert answer["provider"] == "anthropic" and any("refused your key" in w for w in answer["warnings"])
    assert len(providers_at_fake.requests_to("openai")) == 1  # auth errors are not retried


def test_a_bad_request_is_not_failed_over_and_says_why(client_a, keyed_user, providers_at_fake):
    providers_at_fake.fault("openai", "context_too_long")

    answer = post_chat(client_a, "hi")

    assert answer["provider"] == "openai" and not answer["fallback_used"]
    assert answer["reply"].startswith("Sorry, I could not get an answer") and answer["warnings"]


def test_no_usable_key_answers_offline_with_a_warning(client_a, user_a, providers_at_fake):
    use(user_a, "openai")

    answer = post_chat(client_a, "add buy milk")

    assert answer["provider"] == "offline" and answer["fallback_used"]
    assert any("no usable key" in w for w in answer["warnings"])
    assert Task.objects.filter(title="buy milk").exists() and providers_at_fake.requests == []


def test_the_tool_loop_stops_after_eight_model_calls(client_a, keyed_user, providers_at_fake):
    for _ in range(9):
        providers_at_fake.reply_tool_calls("openai", [("list_tasks", {})])

    answer = post_chat(client_a, "loop forever")

    assert len(providers_at_fake.requests_to("openai")) == 8
    assert "stopped after 8 steps" in answer["reply"] and answer["warnings"]
    assert stored_history_is_consistent(answer["conversation_id"])
