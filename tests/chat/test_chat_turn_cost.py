"""What a chat turn costs in database statements (issue #12): only what it must store."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.chat.models import Conversation, Message
from apps.chat.services import chat_turn
from tests.fakes.provider_server import OPENAI

pytestmark = pytest.mark.django_db


def test_a_new_conversation_turn_is_twenty_statements_at_most(keyed_user, fake_provider, django_assert_max_num_queries):
    fake_provider.reply_text(OPENAI, "Nothing is due today.")
    chat_turn(user=keyed_user, conversation_id=None, text="warm-up")  # first-use reads (registry, caches)

    fake_provider.reply_text(OPENAI, "Nothing is due today.")
    # 16 after #12 folded the lease release, existence check and history read; the cache preference
    # (#14), the user's limit policy (#13) and the provider.attempt audit row (#15) came after.
    # 12 since the route's rows (providers, preferences, which keys are active) are per-process
    # copies and a key's last use is stamped once a minute: the turn's own rows, the opened key,
    # and the savepoints of its two transactions.
    with django_assert_max_num_queries(12):
        answer = chat_turn(user=keyed_user, conversation_id=None, text="what is due today?")

    assert answer.reply == "Nothing is due today."
    conversation = Conversation.objects.get(pk=answer.conversation_id)
    assert conversation.turn_lease_id == "" and conversation.turn_lease_until is None
    assert list(conversation.messages.order_by("id").values_list("role", "content")) == [
        ("user", "what is due today?"),
        ("assistant", "Nothing is due today."),
    ]
    assert AuditEvent.objects.filter(action="chat.turn", target_id=str(conversation.pk)).count() == 1
    sent = fake_provider.last(OPENAI).body["messages"]
    assert [m["role"] for m in sent] == ["system", "user"] and sent[-1]["content"] == "what is due today?"


def test_a_follow_up_turn_still_reads_its_history(keyed_user, fake_provider):
    fake_provider.reply_text(OPENAI, "Noted.")
    first = chat_turn(user=keyed_user, conversation_id=None, text="remember milk")
    fake_provider.reply_text(OPENAI, "Milk.")
    chat_turn(user=keyed_user, conversation_id=first.conversation_id, text="what did I say?")
    sent = fake_provider.last(OPENAI).body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert Message.objects.filter(conversation_id=first.conversation_id).count() == 4


def test_the_whole_chat_request_reads_the_limit_policy_once(keyed_user, client_a, fake_provider, django_assert_max_num_queries):
    """Over HTTP: token check, the limit policy (a process copy, else one query with the user's row
    sorting before the default; reused by the turn's quotas in the same request), then the turn.
    23 before: the policy was read by the request limit (two queries) and again by the quotas, and
    each audit event was its own INSERT; 18 before the token and the route's rows were process
    copies (the token's and the key's use stamps are once a minute)."""
    fake_provider.reply_text(OPENAI, "warm")
    assert client_a.post("/api/v1/chat/", {"message": "warm-up"}, format="json").status_code == 200
    fake_provider.reply_text(OPENAI, "Nothing is due today.")
    with django_assert_max_num_queries(12) as captured:
        response = client_a.post("/api/v1/chat/", {"message": "what is due today?"}, format="json")
    assert response.status_code == 200, response.content
    assert not [q for q in captured.captured_queries if '"limits_userpolicy"' in q["sql"]]  # the warm copy
    assert not [q for q in captured.captured_queries if 'FROM "keys_accesstoken"' in q["sql"]]
    assert not [q for q in captured.captured_queries if 'FROM "providers_' in q["sql"]]
    # The attempt's and the turn's audit events (and the usage row) go in with one INSERT each.
    inserts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('INSERT INTO "audit_auditevent"')]
    assert len(inserts) == 1, inserts
    events = AuditEvent.objects.filter(request_id=response["X-Request-ID"]).values_list("action", flat=True)
    assert sorted(events) == ["chat.turn", "provider.attempt"]
