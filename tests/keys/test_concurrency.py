"""EC5: concurrent validate / rotate / delete / relabel on the same key cannot corrupt it or lose the newest state.

Real threads, real row locks: these run on PostgreSQL (SQLite serialises writers, so it proves nothing).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from apps.keys.models import ProviderKey
from apps.keys.vault import (
    provider_key_create,
    provider_key_delete,
    provider_key_open,
    provider_key_rotate_one,
    provider_key_update_label,
)
from apps.providers.models import ProviderConfig
from apps.providers.validation import provider_key_validate
from tests.keys.conftest import CANARY, NEW, OLD
from tests.services import require_postgres

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres():
    require_postgres()


def in_thread(fn):
    """Run fn in its own thread with its own database connection, closed afterwards."""

    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    return wrapper


def test_a_delete_during_a_slow_validation_is_not_undone(user_a, fake_provider):
    ProviderConfig.objects.filter(name="openai").update(base_url=fake_provider.openai_base_url)
    key = provider_key_create(user=user_a, provider_name="openai", key=CANARY)
    fake_provider.fault("models", "slow", delay=0.6)

    with ThreadPoolExecutor(2) as pool:
        validation = pool.submit(in_thread(provider_key_validate), key_id=key.pk)
        while not fake_provider.requests_to("models"):  # the provider call is in flight
            threading.Event().wait(0.01)
        pool.submit(in_thread(provider_key_delete), user=user_a, key_id=key.pk).result(timeout=10)
        assert validation.result(timeout=10) == "active"  # the provider said yes…

    key.refresh_from_db()
    assert key.status == "revoked" and bytes(key.ciphertext) == b""  # …but the delete stands


def test_rotation_racing_deletes_never_brings_a_ciphertext_back(settings, user_a):
    settings.KEY_ENCRYPTION_KEYS = OLD
    keys = [provider_key_create(user=user_a, provider_name="openai", key=f"sk-race-key-{i:04d}") for i in range(20)]
    settings.KEY_ENCRYPTION_KEYS = NEW + OLD
    start = threading.Barrier(2)

    def rotate_all():
        start.wait()
        return [provider_key_rotate_one(key_id=k.pk) for k in keys]

    def delete_all():
        start.wait()
        for k in reversed(keys):
            provider_key_delete(user=user_a, key_id=k.pk)

    with ThreadPoolExecutor(2) as pool:
        rotated = pool.submit(in_thread(rotate_all))
        pool.submit(in_thread(delete_all)).result(timeout=30)
        outcomes = rotated.result(timeout=30)

    assert set(outcomes) <= {"rotated", "skipped"}
    for row in ProviderKey.objects.filter(pk__in=[k.pk for k in keys]):
        assert row.status == "revoked" and bytes(row.ciphertext) == b"" and row.master_key_id == ""


def test_rotation_racing_relabels_keeps_both_changes(settings, user_a):
    settings.KEY_ENCRYPTION_KEYS = OLD
    key = provider_key_create(user=user_a, provider_name="openai", key=CANARY)
    settings.KEY_ENCRYPTION_KEYS = NEW + OLD
    start = threading.Barrier(3)

    def relabel(n):
        start.wait()
        for i in range(15):
            provider_key_update_label(user=user_a, key_id=key.pk, label=f"t{n}-{i}")

    def rotate():
        start.wait()
        for _ in range(15):
            provider_key_rotate_one(key_id=key.pk)

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(in_thread(relabel), 1), pool.submit(in_thread(relabel), 2), pool.submit(in_thread(rotate))]
        for f in futures:
            f.result(timeout=30)

    key.refresh_from_db()
    assert key.master_key_id == "new2" and key.label in {"t1-14", "t2-14"}
    settings.KEY_ENCRYPTION_KEYS = NEW
    assert provider_key_open(user=user_a, key_id=key.pk).secret.reveal() == CANARY
