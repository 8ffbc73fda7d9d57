"""200 chat turns at once against the fake provider on PostgreSQL: every audit event once, and the chain verifies."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx2
import pytest
from django.utils import timezone

from apps.audit.chain import chain_verify, checkpoint_seal
from apps.audit.models import AuditEvent, UsageRecord
from tests.chat.conftest import app_server, keyed_user  # noqa: F401  (fixtures)
from tests.factories import make_token
from tests.services import require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TURNS = 200
CLIENTS = 50


def test_200_concurrent_turns_lose_or_double_no_audit_event_and_the_chain_verifies(keyed_user, app_server):  # noqa: F811
    require_postgres()
    headers = {"Authorization": f"Bearer {make_token(keyed_user)}"}
    server = app_server()
    before = AuditEvent.objects.count()

    def turn(i: int) -> dict:
        with httpx2.Client(timeout=60) as client:
            response = client.post(f"{server.url}/api/v1/chat/", json={"message": f"hello {i}"}, headers=headers)
        assert response.status_code == 200, (i, response.status_code, response.text[:300])
        return response.json()

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(turn, range(TURNS)))
    elapsed = time.monotonic() - started
    assert elapsed < 90, f"{TURNS} turns took {elapsed:.0f}s"

    conversations = {a["conversation_id"] for a in answers}
    assert len(conversations) == TURNS
    turns = AuditEvent.objects.filter(action="chat.turn", actor=keyed_user)
    per_conversation = Counter(turns.values_list("target_id", flat=True))
    assert per_conversation == Counter({str(c): 1 for c in conversations})  # none lost, none doubled
    assert len(set(turns.values_list("request_id", flat=True))) == TURNS
    attempts = AuditEvent.objects.filter(action="provider.attempt", actor=keyed_user)
    assert attempts.count() == UsageRecord.objects.filter(user=keyed_user).count() >= TURNS
    assert sum(e.metadata["input_tokens"] for e in attempts) == sum(a["usage"]["input_tokens"] for a in answers)
    assert AuditEvent.objects.count() - before == turns.count() + attempts.count()  # nothing else, nothing twice

    sealing = time.monotonic()
    checkpoint = checkpoint_seal(now=timezone.now() + timedelta(hours=1))
    seal_seconds = time.monotonic() - sealing
    assert checkpoint.row_count == AuditEvent.objects.count()
    verifying = time.monotonic()
    result = chain_verify()
    verify_seconds = time.monotonic() - verifying
    assert result.ok, result.problem
    print(f"\n{TURNS} turns in {elapsed:.1f}s; sealed {checkpoint.row_count} rows in {seal_seconds * 1000:.0f} ms, "
          f"verified in {verify_seconds * 1000:.0f} ms")  # fmt: skip
    assert "Traceback" not in server.log(), server.log()[-3000:]
