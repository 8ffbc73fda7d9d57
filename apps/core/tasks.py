"""Periodic tasks of the core app (run by Celery beat from django-celery-beat's schedule)."""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.core.cache import cache

from apps.core.outage import outage_skips_run

logger = logging.getLogger(__name__)

HEARTBEAT_CACHE_KEY = "core:beat-heartbeat"


@shared_task(name="apps.core.tasks.beat_heartbeat", ignore_result=True)
@outage_skips_run
def beat_heartbeat() -> dict:
    """A small report that beat and a worker are alive: when it ran and how old the newest audit row is.

    Schedule it (admin: Periodic tasks) every minute; operators alert when the key goes stale.
    """
    from apps.audit.models import AuditEvent

    newest = AuditEvent.objects.order_by("-pk").values_list("created_at", flat=True).first()
    report = {
        "ran_at": time.time(),
        "audit_events": AuditEvent.objects.count(),
        "audit_chain_age_seconds": None if newest is None else round(time.time() - newest.timestamp(), 1),
    }
    try:
        cache.set(HEARTBEAT_CACHE_KEY, report, timeout=None)
    except Exception:  # the report is in the log line too
        logger.warning("beat heartbeat: cache unavailable")
    logger.info("beat heartbeat", extra={"report": report})
    return report
