"""Check the audit trail: every row hash and every checkpoint; name the first broken link or altered row."""

from django.core.management.base import BaseCommand, CommandError

from apps.audit.chain import chain_verify_and_record


class Command(BaseCommand):
    help = "Verify the audit trail's row hashes and checkpoint chain; exit 1 at the first problem."

    def handle(self, *args, **options):
        result = chain_verify_and_record()
        if not result.ok:
            raise CommandError(f"audit trail BROKEN: {result.problem} "
                               f"(checked {result.checked_rows} rows, {result.checked_checkpoints} checkpoints)")
        self.stdout.write(f"audit trail ok: {result.checked_rows} rows, {result.checked_checkpoints} checkpoints")
