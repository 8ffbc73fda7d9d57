"""Celery tasks for reminders: thin, idempotent, ids only."""

from __future__ import annotations

from celery import shared_task

from apps.core.outage import DatabaseUnavailable, outage_skips_run

REMINDER_EMAIL_MAX_RETRIES = 3


@shared_task(acks_late=True)
@outage_skips_run
def reminders_deliver_task() -> int:
    """Run every minute by beat (see migration 0005): deliver the reminders now due, each once."""
    from apps.todos.services import reminders_deliver_due

    return reminders_deliver_due()


@shared_task(acks_late=True, ignore_result=True)
@outage_skips_run  # beat's sweep delivers it
def reminder_deliver_task(reminder_id: int) -> bool:
    """Deliver one reminder at its moment (queued when it is set, if due soon); nothing if the sweep got it first."""
    from apps.todos.services import reminder_deliver

    return reminder_deliver(reminder_id=reminder_id)


@shared_task(bind=True, max_retries=REMINDER_EMAIL_MAX_RETRIES, acks_late=True)
def reminder_email_send_task(self, reminder_id: int) -> str:
    """Email one delivered reminder to its owner (opted-in users only); retried on a mail-server failure."""
    from apps.todos.notify import reminder_email_send

    try:
        return reminder_email_send(reminder_id=reminder_id)
    except (OSError, DatabaseUnavailable) as exc:  # SMTP or the database down: try again later, a few times
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from None
        return "gave_up"
