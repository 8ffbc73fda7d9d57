"""Make (once) and mail the daily or weekly audit report now."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from apps.audit.reports import audit_report_generate


class Command(BaseCommand):
    help = "Make the daily or weekly usage/audit report for a period (default: the last complete one)."

    def add_arguments(self, parser):
        parser.add_argument("--period", choices=["daily", "weekly"], default="daily")
        parser.add_argument("--date", help="a day inside the period, YYYY-MM-DD")

    def handle(self, *args, **options):
        try:
            day = date.fromisoformat(options["date"]) if options["date"] else None
        except ValueError as exc:
            raise CommandError(f"--date: {exc}") from None
        report = audit_report_generate(period=options["period"], day=day)
        state = "no activity" if report.empty else f"{report.summary.get('attempts', 0)} model attempts"
        self.stdout.write(f"report {report.pk}: {report.period} from {report.period_start:%Y-%m-%d} ({state})")
