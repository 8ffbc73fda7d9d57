"""Chat and conversation endpoints: bad input, isolation between users, the offline provider end to end."""

from __future__ import annotations

import socket

import pytest

from apps.chat.models import Conversation, Message
from apps.todos.models import Task
from tests.chat.conftest import post_chat

pytestmark = pytest.mark.django_db

CHAT = "/api/v1/chat/"


def test_offline_chat_adds_a_task_without_opening_a_socket(client_a, user_a, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the offline provider opened a socket")

    answer_holder = {}
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    answer_holder["answer"] = post_chat(client_a, "add buy milk")
    answer = answer_holder["answer"]

    assert answer["provider"] == "offline" and not answer["fallback_used"]  # no key: offline is the choice
    assert answer["tool_calls"][0]["name"] == "add_task" and "buy milk" in answer["reply"]
    assert Task.objects.filter(owner=user_a, title="buy milk").exists()
    assert answer["usage"] == {"input_tokens": 0, "output_tokens": 0, "cost": 0.0}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"message": ""}, "message"),
        ({"message": "   "}, "message"),
        ({"message": 42}, "message"),
        ({}, "message"),
        ({"message": "hi", "conversation_id": "abc"}, "conversation_id"),
        ({"message": "hi", "conversation_id": 0}, "conversation_id"),
        ({"message": "hi", "conversation_id": "12"}, "conversation_id"),
        ({"message": "hi", "conversation_id": 1.0}, "conversation_id"),
        ({"message": "hi", "conversation_id": True}, "conversation_id"),
        ({"message": "hi", "stream": "maybe"}, "stream"),
        ({"message": "hi", "stream": 1}, "stream"),
        ({"message": "hi", "stream": "true"}, "stream"),
    ],
)
def test_bad_chat_input_is_a_400(client_a, payload, field):
    response = client_a.post(CHAT, payload, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["extra"]["fields"]
    assert not Message.objects.exists()


def test_a_message_over_the_size_limit_is_refused(client_a, settings):
    settings.CHAT_MESSAGE_MAX_CHARS = 100
    response = client_a.post(CHAT, {"message": "x" * 101}, format="json")
    assert response.status_code == 400 and "too long" in response.json()["error"]["message"]
    assert not Conversation.objects.exists()


def test_an_unknown_conversation_is_a_404(client_a):
    response = client_a.post(CHAT, {"message": "hi", "conversation_id": 99999}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "conversation_not_found"


def test_conversations_list_retrieve_and_delete(client_a):
    first = post_chat(client_a, "add buy milk")
    post_chat(client_a, "what's on my list", conversation_id=first["conversation_id"])
    cid = first["conversation_id"]

    listed = client_a.get("/api/v1/conversations/").json()
    assert [c["id"] for c in listed["results"]] == [cid] and listed["results"][0]["title"] == "add buy milk"
    detail = client_a.get(f"/api/v1/conversations/{cid}/").json()
    assert [m["role"] for m in detail["messages"]][:2] == ["user", "assistant"]
    assert detail["messages"][1]["tool_calls"][0]["name"] == "add_task"

    assert client_a.delete(f"/api/v1/conversations/{cid}/").status_code == 204
    assert client_a.get(f"/api/v1/conversations/{cid}/").status_code == 404
    assert not Message.objects.exists()


# --- isolation ------------------------------------------------------------------------------


def test_another_users_conversation_is_not_found_everywhere(client_a, client_b):
    cid = post_chat(client_a, "add buy milk")["conversation_id"]

    assert client_b.get(f"/api/v1/conversations/{cid}/").status_code == 404
    assert client_b.delete(f"/api/v1/conversations/{cid}/").status_code == 404
    response = client_b.post(CHAT, {"message": "add steal", "conversation_id": cid}, format="json")
    assert response.status_code == 404
    assert client_b.get("/api/v1/conversations/").json()["count"] == 0
    assert Message.objects.filter(conversation_id=cid).count() == 4  # untouched: user, assistant, tool, assistant


def test_preferences_are_per_user(client_a, client_b):
    client_a.put("/api/v1/preferences/", {"provider": "anthropic"}, format="json")
    client_b.put("/api/v1/preferences/", {"provider": "offline"}, format="json")
    assert client_a.get("/api/v1/preferences/").json()["provider"] == "anthropic"
    assert client_b.get("/api/v1/preferences/").json()["provider"] == "offline"


def test_a_chat_turn_only_touches_the_callers_tasks(client_b, user_a):
    from tests.factories import make_task

    theirs = make_task(user_a, title="alice's milk")
    answer = post_chat(client_b, f"complete task {theirs.pk}")
    theirs.refresh_from_db()
    assert not theirs.completed and answer["tool_calls"][0]["is_error"] is True


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"provider": "nope"}, "provider"), ({"provider": "openai", "model": "gpt-99"}, "model"), ({}, "provider")],
)
def test_bad_preferences_are_a_400(client_a, payload, field):
    response = client_a.put("/api/v1/preferences/", payload, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["extra"]["fields"]


def test_providers_list_says_which_have_a_usable_key(client_a, user_a):
    from apps.keys.vault import provider_key_create

    provider_key_create(user=user_a, provider_name="anthropic", key="sk-ant-listed-key")
    body = {p["name"]: p for p in client_a.get("/api/v1/providers/").json()}
    assert body["anthropic"]["has_usable_key"] and not body["openai"]["has_usable_key"]
    assert body["offline"]["has_usable_key"] and body["openai"]["models"]


def test_usage_reports_the_turns_tokens_per_day_and_provider(client_a, keyed_user, providers_at_fake):
    providers_at_fake.reply_text("openai", "Hello.", usage=(40, 2))
    post_chat(client_a, "hi")
    body = client_a.get("/api/v1/usage/").json()
    assert body["days"][0]["provider"] == "openai" and body["days"][0]["input_tokens"] == 40
    assert {q["provider"]: q["used_tokens"] for q in body["quotas"]}["openai"] == 42


def test_configure_provider_creates_and_updates(db):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from apps.providers.models import ProviderConfig

    out = StringIO()
    call_command("configure_provider", "ollama", "--kind", "openai_compatible", "--base-url",
                 "http://127.0.0.1:11434/v1", "--model", "llama3.2", stdout=out)
    ollama = ProviderConfig.objects.get(name="ollama")
    assert ollama.default_model == "llama3.2" and "created" in out.getvalue()
    call_command("configure_provider", "ollama", "--price-in", "0.5", "--disable", stdout=out)
    ollama.refresh_from_db()
    assert str(ollama.price_input_per_million) == "0.5000" and not ollama.enabled
    with pytest.raises(CommandError, match="base URL"):
        call_command("configure_provider", "vllm", "--kind", "openai_compatible", stdout=out)
    with pytest.raises(CommandError, match="--kind"):
        call_command("configure_provider", "new-one", stdout=out)


def test_a_chat_turns_tool_call_is_an_mcp_tools_call(client_a, caplog):
    import logging

    from apps.audit.models import AuditEvent

    caplog.set_level(logging.DEBUG, logger="apps.mcp_tools.protocol")

    post_chat(client_a, "add buy milk")

    protocol = [r.getMessage() for r in caplog.records if r.name == "apps.mcp_tools.protocol"]
    assert any("tools/call 'add_task'" in line for line in protocol), protocol
    assert any("tools/list" in line for line in protocol), protocol
    event = AuditEvent.objects.get(target_type="mcp.tool", target_id="add_task")
    assert event.metadata["caller"] == "chat" and event.outcome == "success"
