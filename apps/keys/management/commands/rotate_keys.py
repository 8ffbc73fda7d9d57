"""Re-encrypt every stored provider key under the newest master key."""

from django.core.management.base import BaseCommand, CommandError

from apps.keys import crypto
from apps.keys.vault import ROTATE_BATCH_SIZE, provider_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-seal every provider key under the newest master key (the first in KEY_ENCRYPTION_KEYS). "
        "Safe to run twice and while the app serves traffic. Afterwards the old master key can be removed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=ROTATE_BATCH_SIZE)

    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            newest = crypto.newest_master_key_id()
        except crypto.NoMasterKey as exc:
            raise CommandError(str(exc)) from None
        report = provider_keys_rotate(batch_size=batch_size)
        self.stdout.write(
            f"newest master key: {newest}; rotated: {report.rotated}; already current: {report.current}; "
            f"failed: {len(report.failed)}"
        )
        if report.failed:
            ids = ", ".join(str(i) for i in report.failed)
            raise CommandError(f"These provider keys could not be opened and were left as they are: {ids}")
