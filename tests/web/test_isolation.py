"""A user never sees or touches another user's objects through any page."""

from __future__ import annotations

from apps.keys.models import ProviderKey
from tests.web.conftest import make_key


def test_another_users_keys_are_not_listed(page_a, user_a, user_b):
    mine = make_key(user_a, key="sk-alice-key-AAAA", label="alice-key")
    theirs = make_key(user_b, key="sk-bob-key-BBBB", label="bob-key")

    page = page_a.get("/settings/keys/").content.decode()

    assert "alice-key" in page and "…AAAA" in page
    assert "bob-key" not in page and "BBBB" not in page and f"key-{theirs.pk}" not in page
    assert f"key-{mine.pk}" in page


def test_another_users_key_is_a_404_for_every_key_page(page_a, user_b):
    theirs = make_key(user_b, label="bob-key")

    assert page_a.get(f"/settings/keys/{theirs.pk}/delete/").status_code == 404
    assert page_a.post(f"/settings/keys/{theirs.pk}/delete/").status_code == 404
    assert page_a.post(f"/settings/keys/{theirs.pk}/validate/").status_code == 404
    assert page_a.post(f"/settings/keys/{theirs.pk}/validate/", headers={"HX-Request": "true"}).status_code == 404
    assert page_a.get(f"/settings/keys/{theirs.pk}/row/", headers={"HX-Request": "true"}).status_code == 404
    assert page_a.get(f"/settings/keys/{theirs.pk}/row/").status_code == 404

    theirs.refresh_from_db()
    assert theirs.status == ProviderKey.Status.ACTIVE and theirs.ciphertext


def test_another_users_conversations_are_not_listed_and_are_404(page_a, user_a, user_b):
    from apps.chat.models import Conversation
    from tests.web.conftest import make_conversation

    make_conversation(user_a, "add alice task")
    theirs = make_conversation(user_b, "add bob secret plan")

    page = page_a.get("/chat/").content.decode()
    assert "alice task" in page and "bob secret plan" not in page

    assert page_a.get(f"/chat/{theirs}/").status_code == 404
    assert page_a.get(f"/chat/{theirs}/delete/").status_code == 404
    assert page_a.post(f"/chat/{theirs}/delete/").status_code == 404
    assert page_a.post("/chat/send/", {"message": "add x", "conversation_id": str(theirs)}).status_code == 404
    assert page_a.post("/chat/provider/", {"choice": "offline:offline-rules", "conversation_id": str(theirs)}).status_code in (302, 404)
    assert Conversation.objects.get(pk=theirs).messages.count() > 0


def test_usage_shows_only_the_users_own_calls(page_a, user_a, user_b):
    from decimal import Decimal

    from apps.audit.services import usage_record

    usage_record(user=user_b, provider="bobs-provider", model="m", input_tokens=7, output_tokens=3, cost=Decimal("1"))
    page = page_a.get("/usage/").content.decode()
    assert "bobs-provider" not in page
