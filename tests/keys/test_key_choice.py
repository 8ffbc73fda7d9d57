"""Which key a provider call uses: only usable ones (active and unexpired), in a fixed order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.keys.models import ProviderKey
from apps.keys.selectors import provider_key_usable_for
from apps.keys.vault import ProviderKeyUnusable, provider_key_create, provider_key_open
from apps.providers.models import ProviderConfig
from apps.providers.services import provider_preference_set
from tests.chat.conftest import post_chat

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/keys/"


def past(minutes=1):
    return timezone.now() - timedelta(minutes=minutes)


def lapse(record, minutes=1):
    """The key's expiry passes while it is stored (it could not be created already expired)."""
    ProviderKey.objects.filter(pk=record.pk).update(expires_at=past(minutes))


def openai():
    return ProviderConfig.objects.get(name="openai")


# --- creating -------------------------------------------------------------------------------------


def test_a_key_that_has_already_expired_is_refused_with_a_400(client_a):
    response = client_a.post(
        KEYS,
        {"provider": "openai", "key": "sk-expired-key-0001", "expires_at": past().isoformat()},
        format="json",
    )

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert "expires_at" in error["extra"]["fields"] and "past" in error["message"]
    assert not ProviderKey.objects.exists()


def test_a_key_expiring_later_is_stored_as_active(client_a):
    later = (timezone.now() + timedelta(days=30)).isoformat()
    response = client_a.post(KEYS, {"provider": "openai", "key": "sk-later-key-0001", "expires_at": later}, format="json")

    assert response.status_code == 201 and response.json()["status"] == "active"


# --- choosing -------------------------------------------------------------------------------------


def test_an_expired_key_is_not_usable_and_the_provider_list_says_so(client_a, user_a):
    record = provider_key_create(user=user_a, provider_name="openai", key="sk-soon-gone-0001")
    lapse(record)

    assert provider_key_usable_for(user=user_a, provider=openai()) is None
    listed = {p["name"]: p["has_usable_key"] for p in client_a.get("/api/v1/providers/").json()}
    assert listed["openai"] is False and listed["offline"] is True


def test_the_newest_usable_key_is_chosen_past_an_invalid_and_an_expired_one(user_a):
    valid = provider_key_create(user=user_a, provider_name="openai", key="sk-valid-oldest-0001")
    expired = provider_key_create(user=user_a, provider_name="openai", key="sk-expired-middle-0002")
    invalid = provider_key_create(user=user_a, provider_name="openai", key="sk-invalid-newest-0003")
    lapse(expired)
    ProviderKey.objects.filter(pk=invalid.pk).update(status=ProviderKey.Status.INVALID)

    opened = provider_key_open(user=user_a, provider=openai())

    assert opened.key_id == valid.pk and opened.secret.reveal() == "sk-valid-oldest-0001"
    assert ProviderKey.objects.get(pk=expired.pk).status == "expired"  # found lapsed on the way: marked


def test_keys_created_at_the_same_instant_are_chosen_by_id(user_a):
    first = provider_key_create(user=user_a, provider_name="openai", key="sk-same-instant-0001")
    second = provider_key_create(user=user_a, provider_name="openai", key="sk-same-instant-0002")
    ProviderKey.objects.filter(pk__in=[first.pk, second.pk]).update(created_at=timezone.now())

    assert [provider_key_usable_for(user=user_a, provider=openai()).pk for _ in range(3)] == [second.pk] * 3


def test_with_only_expired_keys_opening_says_there_is_no_usable_key(user_a):
    record = provider_key_create(user=user_a, provider_name="openai", key="sk-soon-gone-0002")
    lapse(record)

    with pytest.raises(ProviderKeyUnusable, match="no usable key"):
        provider_key_open(user=user_a, provider=openai())


def test_a_turn_uses_the_active_key_when_the_newest_is_invalid_and_an_older_one_expired(
    client_a, user_a, providers_at_fake
):
    good = "sk-chat-good-key-0001"
    provider_key_create(user=user_a, provider_name="openai", key=good)
    expired = provider_key_create(user=user_a, provider_name="openai", key="sk-chat-expired-0002")
    invalid = provider_key_create(user=user_a, provider_name="openai", key="sk-chat-invalid-0003")
    lapse(expired)
    ProviderKey.objects.filter(pk=invalid.pk).update(status=ProviderKey.Status.INVALID)
    provider_preference_set(user=user_a, provider_name="openai")
    providers_at_fake.expected_key = good  # any other key gets a 401
    providers_at_fake.reply_text("openai", "Hello from OpenAI.")

    answer = post_chat(client_a, "hello")

    assert answer["provider"] == "openai" and not answer["fallback_used"], answer
    assert answer["reply"] == "Hello from OpenAI."
    assert [r.api_key() for r in providers_at_fake.requests_to("openai")] == [good]
