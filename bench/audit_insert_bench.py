"""One audit row: audit_record (the INSERT built once per database) next to Model.save, interleaved.

    python bench/audit_insert_bench.py [--n 1000] [--rounds 7]                      # a fresh SQLite file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/todoassist_bench python bench/audit_insert_bench.py

Both write the same event (the metadata of an MCP tools/call) in autocommit, as a call does;
the figure is CPU time per row (the process's, so the database server's own work on
PostgreSQL is not in it), median of the rounds and its range, and the ratio per round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="rows per measurement")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="audit-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from apps.audit import services

    call_command("migrate", "--noinput", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="audit-bench")
    metadata = {"tool": "get_task", "caller": "external", "transport": "http", "latency_ms": 1.23,
                "token_prefix": "tdo_abcd"}  # fmt: skip
    fields = {"actor": user, "action": "mcp.tool_call", "target_type": "mcp.tool", "target_id": "get_task"}

    def orm_save() -> None:
        services._audit_event(**fields, metadata=metadata).save(force_insert=True)

    def audit_record() -> None:
        services.audit_record(**fields, metadata=metadata)

    ways = {"Model.save": orm_save, "audit_record": audit_record}
    for way in ways.values():
        for _ in range(200):  # warm-up
            way()
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():
            started = time.process_time()
            for _ in range(args.n):
                way()
            times[name].append((time.process_time() - started) * 1000 / args.n)
    print(f"# {connection.vendor}, {args.rounds} interleaved rounds x {args.n} rows; CPU ms per row: median (range)")
    for name, values in times.items():
        print(f"{name:14s} {statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})")
    ratios = sorted(a / b for a, b in zip(times["audit_record"], times["Model.save"], strict=True))
    print(f"audit_record / Model.save: {statistics.median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})")


if __name__ == "__main__":
    main()
