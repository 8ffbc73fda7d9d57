"""Master-key rotation, breach response (revocation), and keys that will not open."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.keys.models import ProviderKey
from apps.keys.vault import ProviderKeyUnusable, provider_key_create, provider_key_open
from apps.providers.models import ProviderConfig
from tests.factories import make_user
from tests.keys.conftest import CANARY, NEW, OLD

pytestmark = pytest.mark.django_db


def store(user, provider="openai", key=CANARY):
    return provider_key_create(user=user, provider_name=provider, key=key)


def rotate() -> str:
    out = StringIO()
    call_command("rotate_keys", stdout=out)
    return out.getvalue()


def test_rotation_reseals_every_key_and_the_old_master_key_can_go(settings, user_a, user_b):
    settings.KEY_ENCRYPTION_KEYS = OLD
    keys = [store(user_a), store(user_a, "anthropic", "sk-ant-second-key"), store(user_b, key="sk-bob-key-0001")]
    assert {k.master_key_id for k in keys} == {"old1"}

    settings.KEY_ENCRYPTION_KEYS = NEW + OLD
    assert "rotated: 3; already current: 0; failed: 0" in rotate()
    assert set(ProviderKey.objects.values_list("master_key_id", flat=True)) == {"new2"}

    settings.KEY_ENCRYPTION_KEYS = NEW  # the old master key removed from the environment
    openai, anthropic = ProviderConfig.objects.get(name="openai"), ProviderConfig.objects.get(name="anthropic")
    assert provider_key_open(user=user_a, provider=openai).secret.reveal() == CANARY
    assert provider_key_open(user=user_a, provider=anthropic).secret.reveal() == "sk-ant-second-key"
    assert provider_key_open(user=user_b, provider=openai).secret.reveal() == "sk-bob-key-0001"

    before = list(ProviderKey.objects.order_by("pk").values_list("ciphertext", flat=True))
    assert "rotated: 0; already current: 3; failed: 0" in rotate()  # a second run changes nothing
    assert list(ProviderKey.objects.order_by("pk").values_list("ciphertext", flat=True)) == before
    rotations = AuditEvent.objects.filter(action="provider_key.rotate")
    assert rotations.count() == 3 and all(e.metadata["master_key_id"] == "new2" for e in rotations)


def test_rotation_in_small_batches_covers_every_key(settings, user_a):
    settings.KEY_ENCRYPTION_KEYS = OLD
    for i in range(7):
        store(user_a, key=f"sk-key-number-{i:04d}")
    settings.KEY_ENCRYPTION_KEYS = NEW + OLD
    call_command("rotate_keys", "--batch-size", "2", stdout=StringIO())
    assert set(ProviderKey.objects.values_list("master_key_id", flat=True)) == {"new2"}


def test_rotation_reports_keys_it_cannot_open_and_carries_on(settings, user_a):
    settings.KEY_ENCRYPTION_KEYS = OLD
    broken, fine = store(user_a), store(user_a, "anthropic")
    ProviderKey.objects.filter(pk=broken.pk).update(master_key_id="gone")
    settings.KEY_ENCRYPTION_KEYS = NEW + OLD

    with pytest.raises(CommandError, match=f"could not be opened.*{broken.pk}"):
        rotate()

    assert ProviderKey.objects.get(pk=fine.pk).master_key_id == "new2"
    assert ProviderKey.objects.get(pk=broken.pk).master_key_id == "gone"


def test_revoked_keys_are_not_rotated(settings, user_a):
    settings.KEY_ENCRYPTION_KEYS = OLD
    key = store(user_a)
    call_command("revoke_keys", "--user", user_a.username, stdout=StringIO())
    settings.KEY_ENCRYPTION_KEYS = NEW + OLD
    assert "rotated: 0" in rotate()
    assert bytes(ProviderKey.objects.get(pk=key.pk).ciphertext) == b""


# --- keys that will not open: a clear error naming the key, never a crash -------------------


def test_a_ciphertext_copied_to_another_users_row_will_not_open(user_a):
    victim = store(user_a)
    attacker = make_user("mallory")
    theirs = store(attacker, key="sk-mallory-own-key")
    ProviderKey.objects.filter(pk=theirs.pk).update(ciphertext=victim.ciphertext, master_key_id=victim.master_key_id)

    with pytest.raises(ProviderKeyUnusable) as info:
        provider_key_open(user=attacker, key_id=theirs.pk)
    assert f"Provider key {theirs.pk}" in info.value.message and CANARY not in info.value.message


def test_a_ciphertext_copied_to_another_provider_will_not_open(user_a):
    openai_key = store(user_a)
    anthropic_key = store(user_a, "anthropic", "sk-ant-key-00001")
    ProviderKey.objects.filter(pk=anthropic_key.pk).update(ciphertext=openai_key.ciphertext)

    with pytest.raises(ProviderKeyUnusable, match="damaged or belongs to another key"):
        provider_key_open(user=user_a, key_id=anthropic_key.pk)


def test_a_tampered_ciphertext_will_not_open(user_a):
    key = store(user_a)
    blob = bytearray(bytes(key.ciphertext))
    blob[-1] ^= 0x01
    ProviderKey.objects.filter(pk=key.pk).update(ciphertext=bytes(blob))

    with pytest.raises(ProviderKeyUnusable, match=f"Provider key {key.pk} cannot be opened"):
        provider_key_open(user=user_a, key_id=key.pk)


def test_an_unknown_master_key_id_is_named_in_the_error(user_a):
    key = store(user_a)
    ProviderKey.objects.filter(pk=key.pk).update(master_key_id="mystery")
    with pytest.raises(ProviderKeyUnusable, match=f"Provider key {key.pk}.*'mystery' is not configured"):
        provider_key_open(user=user_a, key_id=key.pk)


def test_a_removed_master_key_is_named_in_the_error(settings, user_a):
    settings.KEY_ENCRYPTION_KEYS = OLD
    key = store(user_a)
    settings.KEY_ENCRYPTION_KEYS = NEW
    with pytest.raises(ProviderKeyUnusable, match="'old1' is not configured") as info:
        provider_key_open(user=user_a, key_id=key.pk)
    assert info.value.extra == {"key_id": key.pk, "reason": "unknown_master_key"}


def test_an_unusable_key_is_a_clear_api_error_not_a_500(client_a, user_a, settings, django_capture_on_commit_callbacks):
    key_id = client_a.post("/api/v1/keys/", {"provider": "openai", "key": CANARY}, format="json").json()["id"]
    ProviderKey.objects.filter(pk=key_id).update(master_key_id="mystery")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(f"/api/v1/keys/{key_id}/validate/")
    assert response.status_code == 202
    detail = client_a.get(f"/api/v1/keys/{key_id}/").json()["status_detail"]
    assert "'mystery' is not configured" in detail


# --- breach response ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "revoked_owners"),
    [
        (["--user", "alice"], {"alice"}),
        (["--provider", "anthropic"], {"alice", "bob"}),
        (["--all"], {"alice", "bob"}),
    ],
)
def test_revoke_keys_command(user_a, user_b, args, revoked_owners):
    store(user_a), store(user_a, "anthropic"), store(user_b, "anthropic")
    out = StringIO()
    call_command("revoke_keys", *args, stdout=out)

    revoked = ProviderKey.objects.filter(status="revoked")
    assert {k.owner.username for k in revoked} == revoked_owners
    assert all(bytes(k.ciphertext) == b"" for k in revoked)
    assert f"revoked: {revoked.count()}" in out.getvalue()
    assert AuditEvent.objects.filter(action="provider_key.revoke").count() == revoked.count()


@pytest.mark.parametrize("args", [["--user", "nobody"], ["--provider", "nope"]])
def test_revoke_keys_with_unknown_target_fails_clearly(db, args):
    with pytest.raises(CommandError, match="No (user|provider) named"):
        call_command("revoke_keys", *args, stdout=StringIO())


def test_revoke_keys_needs_a_target(db):
    with pytest.raises(CommandError):
        call_command("revoke_keys", stdout=StringIO())


def test_admin_revoke_action_is_audited_with_the_operator(user_a, client):
    from django.contrib.auth import get_user_model

    operator = get_user_model().objects.create_superuser("operator", "op@example.com", "pw-operator-1")
    key = store(user_a)
    client.force_login(operator)

    response = client.post(
        "/admin/keys/providerkey/", {"action": "revoke_selected", "_selected_action": [key.pk]}, follow=True
    )

    assert response.status_code == 200
    key.refresh_from_db()
    assert key.status == "revoked" and bytes(key.ciphertext) == b""
    event = AuditEvent.objects.get(action="provider_key.revoke")
    assert event.actor == operator and "operator" in event.metadata["reason"]
