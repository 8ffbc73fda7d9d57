"""Celery tasks for provider calls: they take ids only (never a key) and own their retries."""

from __future__ import annotations

from celery import shared_task

from apps.core.outage import DatabaseUnavailable
from apps.providers.errors import ProviderError
from apps.providers.validation import (
    provider_key_validate,
    provider_key_validation_deferred,
    provider_key_validation_gave_up,
    retry_wait_seconds,
)

VALIDATE_MAX_RETRIES = 3
# A database outage lasts longer than a provider's hiccup: 30 s, 60 s, 120 s before giving up.
DATABASE_RETRY_BASE_SECONDS = 30


def _validate(task, key_id: int) -> str:
    try:
        return provider_key_validate(key_id=key_id)
    except ProviderError as exc:  # only retryable ones get here
        if task.request.retries < task.max_retries:
            wait = retry_wait_seconds(task.request.retries, exc.retry_after)
            provider_key_validation_deferred(key_id=key_id, error=exc, wait_seconds=wait, retrying=True)
            raise task.retry(exc=exc, countdown=wait) from None
        provider_key_validation_gave_up(key_id=key_id, message=exc.message)
        return "gave_up"
    except DatabaseUnavailable as exc:  # nothing can be noted on the key now; the check itself is still owed
        if task.request.retries < task.max_retries:
            raise task.retry(exc=exc, countdown=DATABASE_RETRY_BASE_SECONDS * 2**task.request.retries) from None
        raise


@shared_task(bind=True, max_retries=VALIDATE_MAX_RETRIES, acks_late=True)
def provider_key_validate_task(self, key_id: int) -> str:
    """Validate one key; transient provider failures are retried with backoff that honours Retry-After."""
    return _validate(self, key_id)


# Messages queued before validation moved out of `apps.keys` name the task by its old path;
# a worker must still run them. Nothing new is sent under this name.
@shared_task(bind=True, name="apps.keys.tasks.provider_key_validate_task", max_retries=VALIDATE_MAX_RETRIES, acks_late=True)
def provider_key_validate_task_legacy_name(self, key_id: int) -> str:
    return _validate(self, key_id)
