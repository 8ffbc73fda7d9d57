"""Checking a stored provider key with one cheap call to its provider, and recording what it said."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.errors import RateLimited, ServiceUnavailable
from apps.core.outage import broker_outage
from apps.keys.models import ProviderKey
from apps.keys.selectors import provider_key_get
from apps.keys.vault import ProviderKeyUnusable, provider_key_mark, provider_key_open
from apps.providers.errors import ProviderError
from apps.providers.services import provider_key_check

logger = logging.getLogger(__name__)

# A worker can afford a longer wait than a request; the provider's own timeout caps both.
WORKER_CHECK_TIMEOUT_SECONDS = 15.0
# Publishing the task: one quick retry, so a broker that is down answers within a second or so
# (on top of the broker connect timeout in settings), never kombu's default retry loop.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# The row's creation time is part of the name, so a reused id (SQLite, test databases) never
# inherits another row's wait.
def _not_before_key(key: ProviderKey) -> str:
    return f"provider-key-validate-not-before:{key.pk}:{key.created_at.timestamp():.6f}"


class ValidationQueueUnavailable(ServiceUnavailable):
    default_code = "task_queue_unavailable"
    default_message = (
        "The key could not be checked now: the background task queue is unavailable. "
        "Your key is unchanged; try again in a few minutes."
    )


class ValidationDeferred(RateLimited):
    default_code = "provider_key_validation_deferred"
    default_message = "The provider asked us to wait before checking this key again."


def retry_wait_seconds(retries: int, retry_after: float | None) -> float:
    """Exponential backoff (2, 4, 8 … capped at 60 s), never shorter than the provider's Retry-After."""
    return max(retry_after or 0.0, min(60.0, 2.0 * 2**retries))


# --- "not before": the provider's Retry-After, shared by every process through the cache ------


def _not_before(key: ProviderKey) -> datetime | None:
    try:
        stamp = cache.get(_not_before_key(key))
    except Exception:  # noqa: BLE001 - a cache outage must not block validation
        logger.warning("provider key validation: cache unavailable, Retry-After not checked", exc_info=False)
        return None
    if stamp is None:
        return None
    when = datetime.fromtimestamp(float(stamp), tz=UTC)
    return when if when > timezone.now() else None


def _set_not_before(key: ProviderKey, when: datetime) -> None:
    seconds = max(int((when - timezone.now()).total_seconds()) + 1, 1)
    try:
        cache.set(_not_before_key(key), when.timestamp(), timeout=seconds)
    except Exception:  # noqa: BLE001
        logger.warning("provider key validation: cache unavailable, Retry-After not stored", exc_info=False)


def _when_text(when: datetime) -> str:
    seconds = max(round((when - timezone.now()).total_seconds()), 1)
    return f"{when.astimezone(UTC):%H:%M:%S} UTC (in {seconds} s)"


_DEFER_REASONS = {
    "rate_limited": "the provider is rate limiting requests",
    "timeout": "the provider did not answer in time",
    "unavailable": "the provider is unavailable",
}


# --- the check itself ----------------------------------------------------------------------------


def provider_key_validate(*, key_id: int, timeout: float | None = None) -> str:
    """Check a key against its provider once and store the result; re-raises retryable provider errors.

    No row lock is held during the network call: the result is written afterwards through
    provider_key_mark, which refuses to touch a key revoked in the meantime.
    """
    record = ProviderKey.objects.select_related("provider", "owner").filter(pk=key_id).first()
    if record is None or record.status == ProviderKey.Status.REVOKED:
        return "skipped"
    try:
        opened = provider_key_open(user=record.owner, key_id=key_id)
    except ProviderKeyUnusable as exc:
        if record.status != ProviderKey.Status.EXPIRED:
            provider_key_mark(key_id=key_id, status=record.status, detail=exc.message)
        return "unusable"
    limit = min(record.provider.timeout_seconds, timeout or WORKER_CHECK_TIMEOUT_SECONDS)
    try:
        provider_key_check(provider=record.provider, secret=opened.secret, timeout=limit)
    except ProviderError as exc:
        if exc.kind == "auth":
            status_code = f" (HTTP {exc.provider_status})" if exc.provider_status else ""
            provider_key_mark(
                key_id=key_id,
                status=ProviderKey.Status.INVALID,
                detail=f"{record.provider} refused this key{status_code}. Check it, or add a new one.",
                validated=True,
            )
            return "invalid"
        if exc.retryable:
            raise
        provider_key_mark(key_id=key_id, status=record.status, detail=f"Validation failed: {exc.message}")
        return "error"
    provider_key_mark(
        key_id=key_id, status=ProviderKey.Status.ACTIVE, detail=f"{record.provider} accepted this key.", validated=True
    )
    return "active"


def provider_key_validation_deferred(*, key_id: int, error: ProviderError, wait_seconds: float, retrying: bool) -> None:
    """The provider could not answer now: note on the key when it will (or may) be tried again.

    The time honours the provider's Retry-After; until then no validation of this key calls it.
    """
    when = timezone.now() + timedelta(seconds=wait_seconds)
    record = ProviderKey.objects.filter(pk=key_id).only("status", "created_at").first()
    if record is None:
        return
    _set_not_before(record, when)
    reason = _DEFER_REASONS.get(error.kind, error.message.rstrip("."))
    next_step = "Retrying at" if retrying else "Try again after"
    provider_key_mark(
        key_id=key_id, status=record.status, detail=f"Could not validate now: {reason}. {next_step} {_when_text(when)}."
    )


def provider_key_validation_gave_up(*, key_id: int, message: str) -> None:
    record = ProviderKey.objects.filter(pk=key_id).only("status").first()
    if record is not None:
        provider_key_mark(key_id=key_id, status=record.status, detail=f"Could not validate now: {message}")


# --- the request ---------------------------------------------------------------------------------


def _runs_inline() -> bool:
    from apps.providers.tasks import provider_key_validate_task

    return bool(provider_key_validate_task.app.conf.task_always_eager)


def provider_key_request_validation(*, user, key_id: int) -> ProviderKey:
    """Check one of the user's keys: queued for a worker, or (no broker: the embedded default) once, here.

    Raises ValidationDeferred (429) while the provider's Retry-After runs, and
    ValidationQueueUnavailable (503) when the broker cannot take the task; both are audited.
    """
    from apps.providers.tasks import provider_key_validate_task

    record = provider_key_get(user=user, key_id=key_id)
    not_before = _not_before(record)
    if not_before is not None:
        raise ValidationDeferred(
            f"The provider asked us to wait: try validating this key again after {_when_text(not_before)}.",
            extra={"key_id": record.pk, "retry_after": max(round((not_before - timezone.now()).total_seconds()), 1)},
        )

    if _runs_inline():
        # No worker: the check runs in this request, once, with a short timeout. Retrying here
        # would hold the request through every backoff (and ignore Retry-After, since eager
        # retries do not wait); instead a retryable failure is recorded as "try again after …".
        with transaction.atomic():
            audit_record(actor=user, action="provider_key.validate_requested", target=record, metadata={"mode": "inline"})
        try:
            provider_key_validate(key_id=record.pk, timeout=settings.KEY_VALIDATION_INLINE_TIMEOUT_SECONDS)
        except ProviderError as exc:  # only retryable ones get here
            provider_key_validation_deferred(
                key_id=record.pk, error=exc, wait_seconds=retry_wait_seconds(0, exc.retry_after), retrying=False
            )
        record.refresh_from_db()
        return record

    # Why the task is published here and not in transaction.on_commit: an on_commit callback runs
    # after the audit row is committed, so a broker failure there could neither change that row's
    # outcome nor be answered cleanly (it surfaced as a 500 behind a "success" row). The task reads
    # only the key row, committed long before, so it does not need to wait for a commit: publish
    # first (bounded: the broker connect timeout plus PUBLISH_RETRY_POLICY), with no transaction
    # open and no lock held, then audit what actually happened, in one transaction with the note
    # on the key. A worker finishing before our audit row is written is harmless (ids order them).
    try:
        if broker_outage.is_down():  # a failure moments ago: answer at once, not after the timeouts again
            raise BrokerError("failing fast after a recent failure")
        try:
            provider_key_validate_task.apply_async(args=(record.pk,), retry=True, retry_policy=PUBLISH_RETRY_POLICY)
        except (BrokerError, OSError) as exc:
            broker_outage.failed(exc)
            raise
        broker_outage.recovered()
    except (BrokerError, OSError) as exc:
        logger.warning("provider key %s: validation not queued, broker unavailable (%s)", record.pk, type(exc).__name__)
        failure = ValidationQueueUnavailable(extra={"key_id": record.pk})
        with transaction.atomic():
            audit_record(
                actor=user,
                action="provider_key.validate_requested",
                target=record,
                outcome=AuditEvent.Outcome.FAILURE,
                metadata={"mode": "queued", "reason": "broker_unavailable"},
            )
            provider_key_mark(
                key_id=record.pk,
                status=record.status,
                detail="Not checked: the background task queue was unavailable. Try again in a few minutes.",
            )
        raise failure from None
    with transaction.atomic():
        audit_record(actor=user, action="provider_key.validate_requested", target=record, metadata={"mode": "queued"})
    record.refresh_from_db()
    return record
