"""Celery tasks for provider keys: they take ids only (never a key) and own their retries."""

from __future__ import annotations

from celery import shared_task

from apps.keys.vault import provider_key_validate, provider_key_validation_gave_up

VALIDATE_MAX_RETRIES = 3


def _backoff(retries: int, retry_after: float | None) -> float:
    return max(retry_after or 0.0, min(60.0, 2.0 * 2**retries))


@shared_task(bind=True, max_retries=VALIDATE_MAX_RETRIES, acks_late=True)
def provider_key_validate_task(self, key_id: int) -> str:
    """Validate one key; transient provider failures are retried with exponential backoff."""
    from apps.providers.errors import ProviderError

    try:
        return provider_key_validate(key_id=key_id)
    except ProviderError as exc:  # only retryable ones get here
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries, exc.retry_after)) from None
        provider_key_validation_gave_up(key_id=key_id, message=exc.message)
        return "gave_up"
