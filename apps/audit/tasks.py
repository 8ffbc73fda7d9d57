"""Celery tasks for the audit trail: seal a checkpoint, verify, purge, report. Thin; they own their retries."""

from __future__ import annotations

from datetime import date

from celery import shared_task

from apps.core.outage import DatabaseUnavailable, outage_skips_run

REPORT_OUTAGE_RETRY_SECONDS = 60
REPORT_OUTAGE_MAX_RETRIES = 60


@shared_task(acks_late=True)
@outage_skips_run
def audit_checkpoint_seal_task() -> int:
    """Seal the rows written since the last checkpoint (beat: every minute)."""
    from apps.audit.chain import checkpoint_seal

    checkpoint = checkpoint_seal()
    return checkpoint.row_count if checkpoint else 0


@shared_task(acks_late=True)
@outage_skips_run
def audit_verify_task() -> bool:
    from apps.audit.chain import chain_verify_and_record

    return chain_verify_and_record().ok


@shared_task(acks_late=True)
@outage_skips_run
def audit_retention_purge_task() -> int:
    from apps.audit.chain import retention_purge

    return retention_purge()


@shared_task(
    bind=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=5, retry_backoff_max=600, retry_jitter=True,
    max_retries=5,
)  # fmt: skip
def audit_report_task(self, period: str = "daily", day: str | None = None) -> int:
    """Make (once) and mail the report for one period; a failure (e.g. the mail server) retries with backoff.

    A database outage is retried every minute for up to an hour (five quick retries lost the
    day's report to a minute's outage: nothing makes a missed period later), each retry for the
    period of the first run, even past midnight.
    """
    from apps.audit.reports import audit_report_generate, report_period

    day = day or report_period(period=period)[0].date().isoformat()
    try:
        report = audit_report_generate(period=period, day=date.fromisoformat(day))
    except DatabaseUnavailable as exc:
        raise self.retry(
            exc=exc, args=(period, day), kwargs={}, countdown=REPORT_OUTAGE_RETRY_SECONDS,
            max_retries=REPORT_OUTAGE_MAX_RETRIES,
        ) from None  # fmt: skip
    return report.pk


@shared_task(acks_late=True, ignore_result=True)
def audit_spool_drain_task() -> dict:
    """Write the usage and audit rows a database failure left in the spool (beat: every minute). Idempotent."""
    from apps.audit.spool import spool_drain

    return spool_drain().as_dict()
