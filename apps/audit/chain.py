"""Tamper evidence: a hash per audit row, chained into minute checkpoints, and the check of both."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

# The columns a row hash covers. actor_id is left out on purpose: deleting a user sets it to
# NULL (SET_NULL), and actor_username, which is covered, keeps who it was.
HASHED_FIELDS = (
    "actor_username", "action", "target_type", "target_id", "outcome", "request_id", "client_ip",
    "metadata", "created_at",
)  # fmt: skip


def _canonical_ip(value) -> str:
    if not value:
        return ""
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return str(value)


def _canonical_time(value: datetime) -> str:
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def row_hash(*, actor_username, action, target_type, target_id, outcome, request_id, client_ip, metadata, created_at) -> str:
    """sha256 of one row's content in a form that survives a database round trip."""
    content = [
        actor_username or "", action, target_type or "", str(target_id or ""), outcome, request_id or "",
        _canonical_ip(client_ip), metadata or {}, _canonical_time(created_at),
    ]
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def event_hash(event) -> str:
    return row_hash(**{name: getattr(event, name) for name in HASHED_FIELDS})


def chain_step(digest: str, row_id: int, hashed: str) -> str:
    return hashlib.sha256(f"{digest}|{row_id}|{hashed}".encode()).hexdigest()


# -- sealing ------------------------------------------------------------------------------------


def sealing_lock():
    """Only one sealer at a time (beat may overlap a slow run), and no spool replay meanwhile: an
    advisory lock on PostgreSQL, held to the end of the transaction (SQLite has one writer anyway).

    A replay (apps.audit.spool) inserts rows whose created_at is minutes old, so the grace period
    does not keep the sealer from passing over them while they are uncommitted: the lock does."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [0x417564])  # "Aud"


@transaction.atomic
def checkpoint_seal(*, now: datetime | None = None, max_rows: int = 50_000):
    """Seal the rows written since the last checkpoint (older than the grace period), in id order.

    Rows younger than AUDIT_CHECKPOINT_GRACE_SECONDS wait for the next run: an id is taken at
    insert but a row is seen at commit, so a slow transaction's lower id could still appear.
    Returns the new checkpoint, or None when there was nothing to seal.
    """
    from apps.audit.models import AuditCheckpoint, AuditEvent

    sealing_lock()
    now = now or timezone.now()
    last = AuditCheckpoint.objects.order_by("-last_id").first()
    after_id = last.last_id if last else 0
    digest = last.digest if last else ""
    cutoff = now - timedelta(seconds=settings.AUDIT_CHECKPOINT_GRACE_SECONDS)
    rows = list(
        AuditEvent.objects.filter(id__gt=after_id, created_at__lt=cutoff)
        .order_by("id")
        .values_list("id", "row_hash")[:max_rows]
    )
    if not rows:
        return None
    prev = digest
    for row_id, hashed in rows:
        digest = chain_step(digest, row_id, hashed)
    return AuditCheckpoint.objects.create(
        first_id=rows[0][0], last_id=rows[-1][0], row_count=len(rows), prev_digest=prev, digest=digest, created_at=now
    )


# -- verifying ----------------------------------------------------------------------------------


@dataclass
class VerifyResult:
    ok: bool
    checked_rows: int
    checked_checkpoints: int
    problem: str = ""


def chain_verify(*, batch: int = 2000) -> VerifyResult:
    """Recompute every row hash and every checkpoint digest; the first problem found, or ok.

    Read in id order, in batches, so a long trail never sits in memory.
    """
    from apps.audit.models import AuditCheckpoint, AuditEvent

    checked_rows = checked_checkpoints = 0
    digest = ""
    cursor_id = 0

    def rows_between(first: int, last: int):
        start = first
        while True:
            chunk = list(AuditEvent.objects.filter(id__gte=start, id__lte=last).order_by("id")[:batch])
            if not chunk:
                return
            yield from chunk
            start = chunk[-1].id + 1

    for checkpoint in AuditCheckpoint.objects.order_by("last_id").iterator():
        checked_checkpoints += 1
        if checkpoint.prev_digest != digest:
            return VerifyResult(False, checked_rows, checked_checkpoints,
                                f"checkpoint {checkpoint.pk} (rows {checkpoint.first_id}..{checkpoint.last_id}): "
                                "its link to the previous checkpoint is broken")  # fmt: skip
        if checkpoint.purged:
            # Its rows were removed by the retention purge: the digest still links the next one.
            digest, cursor_id = checkpoint.digest, checkpoint.last_id
            continue
        running, count = digest, 0
        for event in rows_between(cursor_id + 1, checkpoint.last_id):
            checked_rows += 1
            if event.row_hash != event_hash(event):
                return VerifyResult(False, checked_rows, checked_checkpoints,
                                    f"audit event {event.pk} was altered: its content does not match its hash")
            if event.pk < checkpoint.first_id:
                return VerifyResult(False, checked_rows, checked_checkpoints,
                                    f"audit event {event.pk} appeared between checkpoints after they were sealed")
            running = chain_step(running, event.pk, event.row_hash)
            count += 1
        if count != checkpoint.row_count or running != checkpoint.digest:
            what = f"{checkpoint.row_count - count} row(s) missing" if count < checkpoint.row_count else "rows changed"
            return VerifyResult(False, checked_rows, checked_checkpoints,
                                f"checkpoint {checkpoint.pk} (rows {checkpoint.first_id}..{checkpoint.last_id}) "
                                f"does not match: {what}")  # fmt: skip
        digest, cursor_id = checkpoint.digest, checkpoint.last_id
    # Rows not sealed yet: their own hashes at least.
    for event in rows_between(cursor_id + 1, 2**62):
        checked_rows += 1
        if event.row_hash != event_hash(event):
            return VerifyResult(False, checked_rows, checked_checkpoints,
                                f"audit event {event.pk} was altered: its content does not match its hash")
    return VerifyResult(True, checked_rows, checked_checkpoints)


def chain_verify_and_record():
    from apps.audit.models import AuditVerification

    result = chain_verify()
    AuditVerification.objects.create(
        ok=result.ok, checked_rows=result.checked_rows, checked_checkpoints=result.checked_checkpoints,
        problem=result.problem,
    )
    return result


# -- retention ----------------------------------------------------------------------------------

PURGE_FLAG = "todoassist.audit_purge"


def retention_purge(*, now: datetime | None = None, days: int | None = None, batch: int | None = None) -> int:
    """Remove events older than AUDIT_RETENTION_DAYS, whole sealed checkpoints at a time.

    Only rows a checkpoint sealed before the cut-off go (so every one is older than it); the
    checkpoint stays, marked purged, and its digest still links the chain for audit_verify.
    Each checkpoint's rows go in one transaction, deleted in batches of AUDIT_PURGE_BATCH, with
    the PostgreSQL trigger let through by a transaction-local flag. The purge audits itself.
    Returns the number of rows removed.
    """
    from apps.audit.models import AuditCheckpoint
    from apps.audit.services import audit_record

    days = settings.AUDIT_RETENTION_DAYS if days is None else days
    if days <= 0:
        return 0
    batch = batch or settings.AUDIT_PURGE_BATCH
    cutoff = (now or timezone.now()) - timedelta(days=days)
    removed_total = 0
    for checkpoint in AuditCheckpoint.objects.filter(purged=False, created_at__lt=cutoff).order_by("last_id"):
        with transaction.atomic():
            with connection.cursor() as cursor:
                if connection.vendor == "postgresql":
                    cursor.execute(f"SET LOCAL {PURGE_FLAG} = 'on'")
                removed = 0
                while True:
                    cursor.execute(
                        "DELETE FROM audit_auditevent WHERE id IN (SELECT id FROM audit_auditevent "
                        "WHERE id >= %s AND id <= %s ORDER BY id LIMIT %s)",
                        [checkpoint.first_id, checkpoint.last_id, batch],
                    )
                    if cursor.rowcount <= 0:
                        break
                    removed += cursor.rowcount
                AuditCheckpoint.objects.filter(pk=checkpoint.pk).update(purged=True)
                if connection.vendor == "postgresql":
                    cursor.execute(f"SET LOCAL {PURGE_FLAG} = 'off'")
            audit_record(
                actor=None,
                action="audit.purge",
                target=checkpoint,
                metadata={"first_id": checkpoint.first_id, "last_id": checkpoint.last_id, "removed": removed,
                          "retention_days": days},
            )  # fmt: skip
        removed_total += removed
    return removed_total
