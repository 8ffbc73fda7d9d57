"""The audit spool for operators: entries waiting and set aside, requeue the set-aside ones, drain now."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.audit.spool import DrainReport, spool_drain, spool_entries, spool_requeue_dead, spool_status


class Command(BaseCommand):
    help = (
        "Show how many usage/audit entries wait in the spool (pending) and were set aside (dead), per store. "
        "Prints ids, times and counts only, never an entry's rows."
    )

    def add_arguments(self, parser):
        parser.add_argument("--requeue-dead", action="store_true",
                            help="move the set-aside entries back to pending (after fixing what made them fail)")  # fmt: skip
        parser.add_argument("--drain", action="store_true", help="write the pending entries now (as beat does every minute)")
        parser.add_argument("--list", action="store_true", help="list up to 50 entries per store and state: id, time, counts")

    def handle(self, *args, **options):
        if options["requeue_dead"]:
            moved = spool_requeue_dead()
            self.stdout.write("requeued: " + ", ".join(f"{store} {n if n >= 0 else 'failed'}" for store, n in moved.items()))
        if options["drain"]:
            self.stdout.write(self._drain())
        unreadable = []
        for store, counts in spool_status().items():
            where = f"{store} ({settings.AUDIT_SPOOL_DIR})" if store == "file" else store
            if min(counts.values()) < 0:
                unreadable.append(store)
                self.stdout.write(f"{where}: cannot be read")
            else:
                self.stdout.write(f"{where}: {counts['pending']} pending, {counts['dead']} dead")
        if options["list"]:
            for state in ("pending", "dead"):
                for store, entries in spool_entries(dead=state == "dead").items():
                    for e in entries:
                        self.stdout.write(f"  {store} {state} {e.id} spooled {e.spooled_at or '?'}: "
                                          f"{e.usage_rows} usage rows, {e.audit_events} audit events")  # fmt: skip
        if unreadable:
            raise CommandError(f"the {' and '.join(unreadable)} spool cannot be read")

    @staticmethod
    def _drain() -> str:
        total = DrainReport()
        while True:  # batch after batch, until nothing waits or a pass gets nowhere (the database is down)
            report = spool_drain()
            for name in ("replayed", "already", "usage_rows", "audit_events", "set_aside"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            total.left = report.left
            if not report.left or not (report.replayed or report.already or report.set_aside):
                break
        return (f"drained: {total.replayed} entries written ({total.usage_rows} usage rows, {total.audit_events} audit "
                f"events), {total.already} already stored, {total.set_aside} set aside"
                + ("; some still wait (see the log)" if total.left else ""))  # fmt: skip
