"""One turn at a time per conversation: the lease, the 409 (API and page), and each turn's own history."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent, UsageRecord
from apps.chat import services
from apps.chat.models import Conversation, Message
from apps.chat.services import chat_turn
from apps.todos.models import Task
from tests.chat.conftest import parse_sse, post_chat

pytestmark = pytest.mark.django_db

CHAT = "/api/v1/chat/"


def _busy(conversation_id: int, *, seconds: int = 60) -> None:
    """As if another turn were running in this conversation right now."""
    Conversation.objects.filter(pk=conversation_id).update(
        turn_lease_id="another-turn", turn_lease_until=timezone.now() + timedelta(seconds=seconds)
    )


def _stored(conversation_id: int) -> tuple[int, int, int]:
    return (
        Message.objects.filter(conversation_id=conversation_id).count(),
        Task.objects.count(),
        AuditEvent.objects.filter(action="chat.turn").count(),
    )


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_a_turn_while_another_runs_is_a_409_that_stores_nothing(client_a, user_a, stream):
    conversation_id = post_chat(client_a, "add buy milk")["conversation_id"]
    before = _stored(conversation_id)
    _busy(conversation_id)

    response = client_a.post(CHAT, {"conversation_id": conversation_id, "message": "add buy eggs", "stream": stream}, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": "turn_in_progress",
            "message": "This conversation is still answering another message. Wait for that answer, then send yours again.",
            "extra": {"conversation_id": conversation_id},
        }
    }
    assert _stored(conversation_id) == before
    assert not Task.objects.filter(title="buy eggs").exists()
    # The other turn's lease is left alone.
    assert Conversation.objects.get(pk=conversation_id).turn_lease_id == "another-turn"


def test_an_expired_lease_does_not_lock_the_conversation(client_a):
    conversation_id = post_chat(client_a, "add buy milk")["conversation_id"]
    _busy(conversation_id, seconds=-1)  # its server died mid-turn a while ago

    answer = post_chat(client_a, "add buy eggs", conversation_id=conversation_id)

    assert answer["tool_calls"][0]["result"]["title"] == "buy eggs"
    assert Conversation.objects.get(pk=conversation_id).turn_lease_until is None


def test_the_lease_is_held_during_the_turn_renewed_each_step_and_given_back(user_a, monkeypatch, settings):
    settings.CHAT_TURN_LEASE_SECONDS = 120
    seen = []
    real_run_tool = services._run_tool

    def spy(user, call):
        conversation = Conversation.objects.get(owner=user)
        seen.append((conversation.turn_lease_id, conversation.turn_lease_until))
        return real_run_tool(user, call)

    monkeypatch.setattr(services, "_run_tool", spy)
    answer = chat_turn(user=user_a, conversation_id=None, text="add buy milk")

    [(lease_id, until)] = seen
    assert len(lease_id) == 32 and until > timezone.now() + timedelta(seconds=100)
    conversation = Conversation.objects.get(pk=answer.conversation_id)
    assert conversation.turn_lease_id == "" and conversation.turn_lease_until is None


def test_a_turn_that_fails_to_store_still_gives_the_lease_back(user_a, monkeypatch):
    conversation_id = chat_turn(user=user_a, conversation_id=None, text="add buy milk").conversation_id

    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "_save_turn", broken)
    with pytest.raises(RuntimeError):
        chat_turn(user=user_a, conversation_id=conversation_id, text="add buy eggs")

    assert Conversation.objects.get(pk=conversation_id).turn_lease_until is None


@pytest.mark.django_db(transaction=True)
def test_a_turn_failed_by_a_database_outage_gives_the_lease_back_once_the_database_answers(user_a, monkeypatch,
                                                                                             settings):
    # The database that failed the turn usually still fails the release right after it: the
    # conversation then answered every new message with a 409 for CHAT_TURN_LEASE_SECONDS (5 min),
    # long after the database was back.
    from django.db import OperationalError

    from apps.core.outage import DatabaseUnavailable

    settings.DATABASE_RETRY_AFTER_SECONDS = 0.2
    conversation_id = chat_turn(user=user_a, conversation_id=None, text="add buy milk").conversation_id
    release, outage = services._lease_release, {"releases_refused": 2}

    def down(**kwargs):
        raise DatabaseUnavailable("test")

    def release_while_down(turn):
        if outage["releases_refused"]:
            outage["releases_refused"] -= 1
            raise OperationalError("the database went away")
        release(turn)

    monkeypatch.setattr(services, "_save_turn", down)
    monkeypatch.setattr(services, "_lease_release", release_while_down)
    with pytest.raises(DatabaseUnavailable):  # the turn's own error, not the release's
        chat_turn(user=user_a, conversation_id=conversation_id, text="add buy eggs")

    deadline = time.monotonic() + 5
    while Conversation.objects.get(pk=conversation_id).turn_lease_until is not None:
        assert time.monotonic() < deadline, "the conversation stays locked"
        time.sleep(0.05)
    assert outage["releases_refused"] == 0


def test_a_streamed_turn_that_fails_mid_stream_ends_with_an_error_event(client_a, user_a, monkeypatch):
    # The 200 and the first events are out when the answer fails to store: the stream was cut
    # (an incomplete chunked body) and the page was left with a half-written, busy bubble.
    from apps.core.outage import DatabaseUnavailable

    conversation_id = chat_turn(user=user_a, conversation_id=None, text="add buy milk").conversation_id

    def down(**kwargs):
        raise DatabaseUnavailable("test")

    monkeypatch.setattr(services, "_save_turn", down)
    response = client_a.post(CHAT, {"conversation_id": conversation_id, "message": "hello", "stream": True}, format="json")

    events = parse_sse(b"".join(response.streaming_content).decode())
    assert events[0]["type"] == "conversation"
    assert events[-1] == {
        "type": "error",
        "code": "service_unavailable",
        "message": "The database is unavailable; try again in a few seconds.",
    }


def test_another_users_conversation_is_still_a_404_even_when_busy(client_b, user_a):
    conversation_id = chat_turn(user=user_a, conversation_id=None, text="add buy milk").conversation_id
    _busy(conversation_id)
    response = client_b.post(CHAT, {"conversation_id": conversation_id, "message": "hi"}, format="json")
    assert response.status_code == 404  # not a 409: that would say the conversation exists


def test_a_turn_answers_its_own_message_even_if_a_later_one_is_already_stored(user_a, monkeypatch):
    """The history ends at this turn's message: whatever was stored after it is not this turn's to answer."""
    conversation_id = chat_turn(user=user_a, conversation_id=None, text="add buy milk").conversation_id
    real_history = services._history

    def history_with_a_late_arrival(conversation, *, up_to):
        Message.objects.create(conversation=conversation, role="user", content="add task buy a boat")
        return real_history(conversation, up_to=up_to)

    monkeypatch.setattr(services, "_history", history_with_a_late_arrival)
    answer = chat_turn(user=user_a, conversation_id=conversation_id, text="add buy eggs")

    assert [c["result"]["title"] for c in answer.tool_calls] == ["buy eggs"]
    assert not Task.objects.filter(title__contains="boat").exists()


def test_the_schema_declares_the_409(client_a):
    schema = client_a.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    responses = schema["paths"]["/api/v1/chat/"]["post"]["responses"]
    assert "409" in responses


# --- the chat page -----------------------------------------------------------------------------


@pytest.fixture
def page_a(user_a) -> Client:
    client = Client()
    client.force_login(user_a)
    return client


def test_the_pages_script_gets_the_409_as_the_error_shape(page_a, user_a):
    conversation_id = chat_turn(user=user_a, conversation_id=None, text="add buy milk").conversation_id
    _busy(conversation_id)
    before = _stored(conversation_id)

    response = page_a.post(
        "/chat/send/", {"message": "add buy eggs", "conversation_id": str(conversation_id)}, headers={"Accept": "text/event-stream"}
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "turn_in_progress"  # chat.js shows error.message by the field
    assert _stored(conversation_id) == before


def test_a_plain_form_post_during_a_turn_shows_the_message_and_keeps_the_text(page_a, user_a):
    conversation_id = chat_turn(user=user_a, conversation_id=None, text="add buy milk").conversation_id
    _busy(conversation_id)

    response = page_a.post("/chat/send/", {"message": "add buy eggs", "conversation_id": str(conversation_id)})

    assert response.status_code == 409
    page = response.content.decode()
    assert "still answering another message" in page
    assert "add buy eggs</textarea>" in page  # nothing typed is lost
    assert not Task.objects.filter(title="buy eggs").exists()


# --- request context on the streaming path (issue 19, item 5) -----------------------------------


def test_a_streamed_api_turn_is_audited_with_its_request_id_and_client_ip(client_a):
    response = client_a.post(
        CHAT, {"message": "add buy milk", "stream": True}, format="json", HTTP_X_REQUEST_ID="stream-req-0001"
    )
    b"".join(response.streaming_content)

    turn = AuditEvent.objects.get(action="chat.turn")
    assert (turn.request_id, turn.client_ip) == ("stream-req-0001", "127.0.0.1")
    tool = AuditEvent.objects.get(action="mcp.tool_call")
    assert (tool.request_id, tool.client_ip) == ("stream-req-0001", "127.0.0.1")


def test_a_streamed_page_turn_is_audited_with_its_request_id(page_a):
    response = page_a.post(
        "/chat/send/", {"message": "add buy milk"}, headers={"Accept": "text/event-stream", "X-Request-ID": "page-req-0001"}
    )
    events = parse_sse(b"".join(response.streaming_content).decode())
    assert events[-1]["type"] == "done"

    turn = AuditEvent.objects.get(action="chat.turn")
    assert (turn.request_id, turn.client_ip) == ("page-req-0001", "127.0.0.1")


@pytest.mark.django_db(transaction=True)  # close() ends the request: Django closes the connection then
def test_a_streamed_turn_never_read_by_its_client_is_still_stored(client_a, user_a):
    response = client_a.post(CHAT, {"message": "add buy milk", "stream": True}, format="json")
    response.close()  # what a WSGI server does when the client goes away before reading

    assert Task.objects.get(owner=user_a).title == "buy milk"
    roles = list(Message.objects.filter(conversation__owner=user_a).order_by("id").values_list("role", flat=True))
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert AuditEvent.objects.filter(action="chat.turn").count() == 1
    assert UsageRecord.objects.filter(user=user_a).count() == 2


def test_a_conversation_deleted_mid_turn_still_gets_its_usage_and_audit_row(client_a, user_a, monkeypatch):
    real_run_tool = services._run_tool

    def delete_then_run(user, call):
        services.conversation_delete(user=user, conversation_id=Conversation.objects.get(owner=user).pk)
        return real_run_tool(user, call)

    monkeypatch.setattr(services, "_run_tool", delete_then_run)
    response = client_a.post(CHAT, {"message": "add buy milk"}, format="json")

    assert response.status_code == 200, response.content  # not a 500 from a dangling foreign key
    assert "it was not stored" in response.json()["warnings"][-1]
    assert Task.objects.get(owner=user_a).title == "buy milk"  # the tool ran
    assert not Message.objects.exists()
    turn = AuditEvent.objects.get(action="chat.turn")
    assert turn.metadata["conversation_deleted"] is True and turn.metadata["model_calls"] == 2
    assert UsageRecord.objects.filter(user=user_a).count() == 2


def test_the_conversation_says_whether_a_turn_is_in_progress(client_a, page_a):
    conversation_id = post_chat(client_a, "add buy milk")["conversation_id"]
    detail = f"/api/v1/conversations/{conversation_id}/"
    assert client_a.get(detail).json()["turn_in_progress"] is False
    assert "Still answering" not in page_a.get(f"/chat/{conversation_id}/").content.decode()

    _busy(conversation_id)

    assert client_a.get(detail).json()["turn_in_progress"] is True
    assert client_a.get("/api/v1/conversations/").json()["results"][0]["turn_in_progress"] is True
    # Reloaded while a turn whose tab was closed still runs: the page says so.
    assert "Still answering" in page_a.get(f"/chat/{conversation_id}/").content.decode()
