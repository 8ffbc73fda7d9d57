"""Celery beat task: probe providers with an operator key (kept apart from the key-validation tasks)."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.core.outage import outage_skips_run
from apps.providers.health import providers_probe

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
@outage_skips_run
def provider_health_probe_task() -> dict:
    """Probe each enabled provider that has an operator key; idempotent, one probe per provider per run.

    Providers without an operator key are left alone: their health comes from real traffic
    (the attempt rows every chat turn stores), which needs no refresh. Users' keys are never used.
    """
    results = providers_probe()
    logger.info("provider health probe: %s", {name: (r if isinstance(r, str) else r.get("ok")) for name, r in results.items()})
    return results
