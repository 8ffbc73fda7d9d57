"""The provider key API: store once, masked forever after; validation; isolation between users."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.keys.models import ProviderKey
from apps.keys.vault import ProviderKeyUnusable, provider_key_create, provider_key_open
from apps.providers.models import ProviderConfig
from tests.keys.conftest import CANARY

pytestmark = pytest.mark.django_db

KEYS = "/api/v1/keys/"


def key_url(key_id, suffix="") -> str:
    return f"{KEYS}{key_id}/{suffix}"


def add_key(client, provider="openai", key=CANARY, label="work"):
    return client.post(KEYS, {"provider": provider, "key": key, "label": label}, format="json")


def test_storing_a_key_returns_it_masked(client_a, user_a):
    response = add_key(client_a)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["last4"] == CANARY[-4:] and body["provider"] == "openai" and body["status"] == "active"
    assert "key" not in body and CANARY not in response.content.decode()
    record = ProviderKey.objects.get(pk=body["id"])
    assert record.owner == user_a and CANARY.encode() not in bytes(record.ciphertext)


def test_list_retrieve_patch_and_delete(client_a):
    key_id = add_key(client_a).json()["id"]

    assert [k["id"] for k in client_a.get(KEYS).json()["results"]] == [key_id]
    assert client_a.get(key_url(key_id)).json()["label"] == "work"
    assert client_a.patch(key_url(key_id), {"label": "home"}, format="json").json()["label"] == "home"

    assert client_a.delete(key_url(key_id)).status_code == 204
    record = ProviderKey.objects.get(pk=key_id)
    assert record.status == "revoked" and bytes(record.ciphertext) == b""
    assert AuditEvent.objects.filter(action="provider_key.delete", target_id=str(key_id)).count() == 1
    assert client_a.get(key_url(key_id)).status_code == 404
    assert client_a.get(KEYS).json()["count"] == 0


def test_a_stored_key_cannot_be_changed_through_patch(client_a):
    key_id = add_key(client_a).json()["id"]
    response = client_a.patch(key_url(key_id), {"key": "sk-other-value-123"}, format="json")
    assert response.status_code == 400 and "key" in response.json()["error"]["extra"]["fields"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"provider": "openai", "key": "short"}, "key"),
        ({"provider": "openai", "key": "has a space in it"}, "key"),
        ({"provider": "openai", "key": 12345678901}, "key"),
        ({"provider": "openai", "key": "x" * 513}, "key"),
        ({"provider": "openai"}, "key"),
        ({"provider": "nope", "key": "sk-valid-looking-1"}, "provider"),
        ({"provider": "offline", "key": "sk-valid-looking-1"}, "provider"),
        ({"provider": "openai", "key": "sk-valid-looking-1", "label": "l" * 101}, "label"),
        ({"provider": "openai", "key": "sk-valid-looking-1", "expires_at": "soon"}, "expires_at"),
    ],
)
def test_bad_key_input_is_a_400_naming_the_field(client_a, payload, field):
    response = client_a.post(KEYS, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["extra"]["fields"]
    assert not ProviderKey.objects.exists()


def test_a_disabled_provider_takes_no_keys(client_a):
    ProviderConfig.objects.filter(name="openai").update(enabled=False)
    assert add_key(client_a).status_code == 400


# --- isolation: user B gets 404 for each of user A's keys on every endpoint -------------------

KEY_CALLS = [
    ("get", "", None),
    ("patch", "", {"label": "stolen"}),
    ("delete", "", None),
    ("post", "validate/", None),
]


@pytest.mark.parametrize(("method", "suffix", "payload"), KEY_CALLS)
def test_another_users_key_is_not_found_on_every_endpoint(client_a, client_b, method, suffix, payload):
    key_id = add_key(client_a).json()["id"]

    response = getattr(client_b, method)(key_url(key_id, suffix), payload, format="json")

    assert response.status_code == 404 and response.json()["error"]["code"] == "provider_key_not_found"
    record = ProviderKey.objects.get(pk=key_id)
    assert record.status == "active" and record.label == "work"
    assert client_b.get(KEYS).json()["count"] == 0


@pytest.mark.parametrize(("method", "suffix", "payload"), KEY_CALLS)
def test_non_numeric_key_ids_are_a_400(client_a, method, suffix, payload):
    response = getattr(client_a, method)(key_url("abc", suffix), payload, format="json")
    assert response.status_code == 400 and response.json()["error"]["extra"]["field"] == "key_id"


def test_key_endpoints_need_authentication(anon_client):
    assert anon_client.get(KEYS).status_code == 401
    assert add_key(anon_client).status_code == 401


# --- validation (EC1) ---------------------------------------------------------------------


def validate(client, key_id, capture):
    with capture(execute=True):
        response = client.post(key_url(key_id, "validate/"))
    assert response.status_code == 202, response.content
    return ProviderKey.objects.get(pk=key_id)


def test_a_key_the_provider_accepts_is_active(client_a, providers_at_fake, django_capture_on_commit_callbacks):
    key_id = add_key(client_a).json()["id"]

    record = validate(client_a, key_id, django_capture_on_commit_callbacks)

    assert record.status == "active" and record.last_validated_at is not None
    sent = providers_at_fake.last("models")
    assert sent.api_key() == CANARY  # the real key reached the provider, and only there
    assert AuditEvent.objects.filter(action="provider_key.validate", outcome="success").exists()


@pytest.mark.parametrize("fault", ["unauthorized", "forbidden"])
def test_a_key_the_provider_refuses_is_marked_invalid_with_a_clear_message(
    client_a, providers_at_fake, fault, django_capture_on_commit_callbacks
):
    key_id = add_key(client_a).json()["id"]
    providers_at_fake.fault("models", fault)

    record = validate(client_a, key_id, django_capture_on_commit_callbacks)

    assert record.status == "invalid"
    assert "refused this key" in record.status_detail and CANARY not in record.status_detail
    event = AuditEvent.objects.get(action="provider_key.validate")
    assert event.outcome == "failure" and event.metadata["status"] == "invalid"
    shown = client_a.get(key_url(key_id)).json()
    assert shown["status"] == "invalid" and "refused" in shown["status_detail"]
    with pytest.raises(ProviderKeyUnusable):
        provider_key_open(user=record.owner, provider=record.provider)


def test_a_rate_limited_validation_is_retried_by_the_worker_then_succeeds(user_a, providers_at_fake):
    from apps.providers.tasks import provider_key_validate_task

    record = provider_key_create(user=user_a, provider_name="openai", key=CANARY)
    providers_at_fake.fault("models", "rate_limited", retry_after="0")

    assert provider_key_validate_task.apply(args=(record.pk,)).get() == "active"

    record.refresh_from_db()
    assert record.status == "active"
    assert len(providers_at_fake.requests_to("models")) == 2  # one retry layer: the task's


def test_a_provider_that_stays_down_leaves_the_key_usable_with_a_note(user_a, providers_at_fake):
    from apps.providers.tasks import provider_key_validate_task

    record = provider_key_create(user=user_a, provider_name="openai", key=CANARY)
    for _ in range(4):
        providers_at_fake.fault("models", "unavailable")

    assert provider_key_validate_task.apply(args=(record.pk,)).get() == "gave_up"

    record.refresh_from_db()
    assert record.status == "active" and "Could not validate now" in record.status_detail
    assert len(providers_at_fake.requests_to("models")) == 4  # first try + 3 retries, then it gives up


def test_an_anthropic_key_is_validated_against_anthropic(
    client_a, providers_at_fake, django_capture_on_commit_callbacks
):
    key_id = add_key(client_a, provider="anthropic").json()["id"]
    record = validate(client_a, key_id, django_capture_on_commit_callbacks)
    assert record.status == "active"
    assert "anthropic-version" in providers_at_fake.last("models").headers


def test_an_expired_key_is_marked_expired_and_not_used(user_a, providers_at_fake):
    openai = ProviderConfig.objects.get(name="openai")
    record = provider_key_create(
        user=user_a, provider_name="openai", key=CANARY, expires_at=timezone.now() + timedelta(minutes=1)
    )
    ProviderKey.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(minutes=1))  # time passes

    with pytest.raises(ProviderKeyUnusable, match="expired"):
        provider_key_open(user=user_a, key_id=record.pk)

    record.refresh_from_db()
    assert record.status == "expired"
    assert AuditEvent.objects.filter(action="provider_key.expired").exists()
    with pytest.raises(ProviderKeyUnusable, match="no usable key"):
        provider_key_open(user=user_a, provider=openai)
    assert providers_at_fake.requests == []


def test_opening_a_key_gives_a_secret_and_records_use(user_a):
    openai = ProviderConfig.objects.get(name="openai")
    provider_key_create(user=user_a, provider_name="openai", key=CANARY)

    opened = provider_key_open(user=user_a, provider=openai)

    assert opened.secret.reveal() == CANARY and CANARY not in repr(opened)
    assert ProviderKey.objects.get(pk=opened.key_id).last_used_at is not None


def test_a_keys_last_use_is_stamped_at_most_once_per_interval(user_a, settings):
    """One UPDATE a minute, not one per call: each call is in the audit trail (provider.attempt)."""
    from datetime import timedelta

    from django.utils import timezone

    openai = ProviderConfig.objects.get(name="openai")
    provider_key_create(user=user_a, provider_name="openai", key=CANARY)
    first = provider_key_open(user=user_a, provider=openai)
    stamped = ProviderKey.objects.get(pk=first.key_id).last_used_at
    provider_key_open(user=user_a, provider=openai)
    assert ProviderKey.objects.get(pk=first.key_id).last_used_at == stamped  # within the interval
    ProviderKey.objects.filter(pk=first.key_id).update(last_used_at=timezone.now() - timedelta(minutes=2))
    provider_key_open(user=user_a, provider=openai)
    assert ProviderKey.objects.get(pk=first.key_id).last_used_at > stamped
