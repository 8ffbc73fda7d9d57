"""Seal the audit rows written since the last checkpoint now (beat does this every minute)."""

from django.core.management.base import BaseCommand

from apps.audit.chain import checkpoint_seal


class Command(BaseCommand):
    help = "Write an audit checkpoint over the rows not sealed yet (older than the grace period)."

    def add_arguments(self, parser):
        parser.add_argument("--grace", type=int, default=None, help="seconds; default AUDIT_CHECKPOINT_GRACE_SECONDS")

    def handle(self, *args, **options):
        from datetime import timedelta

        from django.conf import settings
        from django.utils import timezone

        now = timezone.now()
        if options["grace"] is not None:
            now += timedelta(seconds=settings.AUDIT_CHECKPOINT_GRACE_SECONDS - options["grace"])
        checkpoint = checkpoint_seal(now=now)
        self.stdout.write(f"sealed {checkpoint}" if checkpoint else "nothing to seal")
