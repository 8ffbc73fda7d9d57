"""First-page time of each task view for a user with 100 tasks and one with 100,000 (issue 18).

    python bench/task_views_bench.py [--database-url postgres://…/todoassist_views_bench] [--large 100000] [--rounds 5] [--n 40]

Makes (once, in the given database) two users with the same mix of tasks: 30 % without a due
date, the rest due between 60 days ago and 60 days ahead, 20 % completed, a third in a second
list, a fifth labelled. Then, in interleaved rounds, times what GET /api/v1/task-views/ does for
the first page (limit 20): the selector, the page query, the labels prefetch and serialization.
Prints p50/p95 per view and user and the p95 ratio large/small (goal ≤ 1.5).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="sqlite:///" + str(Path("/tmp/task_views_bench.sqlite3")))
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=40, help="calls per view, user and round")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    small = _user_with_tasks("bench-small", args.small)
    large = _user_with_tasks("bench-large", args.large)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")

    from apps.todos.apis import TaskOutputSerializer
    from apps.todos.selectors import task_page, task_view

    views = [
        ("today", {}),
        ("overdue", {}),
        ("upcoming", {"days": 60}),  # the small user has ~4 tasks in a week; 60 days fills a page for both
        ("no_date", {}),
        ("completed", {"days": 3650}),
        ("all", {}),
        ("all", {"sort": "priority"}),
        ("all", {"sort": "due"}),
        ("all", {"list_id": "second"}),
        ("all", {"label_id": "label"}),
    ]
    timings: dict[tuple[str, str], list[float]] = {}
    ratios: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for view, extra in views:
            name = view + "".join(f" {k}={v}" for k, v in extra.items())
            per_user = {}
            for label, user in (("small", small), ("large", large)):
                kwargs = dict(extra)
                if kwargs.get("list_id") == "second":
                    kwargs["list_id"] = user.task_lists.get(name="Second").pk
                if kwargs.get("label_id") == "label":
                    kwargs["label_id"] = user.task_labels.get(name="bench").pk
                samples = []
                for _ in range(args.n):
                    start = time.perf_counter()
                    rows, _more = task_page(task_view(user=user, view=view, **kwargs), limit=20)
                    TaskOutputSerializer(rows, many=True).data  # noqa: B018  (what the API sends)
                    samples.append((time.perf_counter() - start) * 1000)
                timings.setdefault((name, label), []).extend(samples)
                per_user[label] = _p95(samples)
            ratios.setdefault(name, []).append(per_user["large"] / per_user["small"])
    print(f"database: {connection.vendor}; machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"tasks: small {args.small}, large {args.large}; {args.rounds} rounds × {args.n} calls per view and user")
    print("| view | small p50 / p95 ms | large p50 / p95 ms | p95 ratio (median of rounds; range) |")
    print("|---|---|---|---|")
    for name in ratios:
        s, l = timings[(name, "small")], timings[(name, "large")]
        r = ratios[name]
        print(
            f"| {name} | {statistics.median(s):.2f} / {_p95(s):.2f} | {statistics.median(l):.2f} / {_p95(l):.2f} "
            f"| **{statistics.median(r):.2f}** ({min(r):.2f}–{max(r):.2f}) |"
        )


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def _user_with_tasks(username: str, count: int):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from apps.todos.models import Label, Task, TaskList
    from apps.todos.services import task_list_inbox

    user, _ = get_user_model().objects.get_or_create(username=username)
    if Task.objects.filter(owner=user).count() == count:
        return user
    Task.objects.filter(owner=user).delete()
    inbox = task_list_inbox(user=user)
    second, _ = TaskList.objects.get_or_create(owner=user, name="Second")
    label, _ = Label.objects.get_or_create(owner=user, name="bench")
    rng = random.Random(18)
    today = timezone.localdate()
    now = timezone.now()
    batch, through = [], Task.labels.through
    for n in range(count):
        due = None if rng.random() < 0.3 else today + timedelta(days=rng.randint(-60, 60))
        done = rng.random() < 0.2
        priority = rng.choice(["low", "normal", "normal", "high"])
        batch.append(
            Task(
                owner=user,
                task_list=second if n % 3 == 0 else inbox,
                title=f"bench task {n}",
                priority=priority,
                priority_rank={"low": 0, "normal": 1, "high": 2}[priority],
                due_date=due,
                completed=done,
                completed_at=now - timedelta(minutes=rng.randint(1, 500_000)) if done else None,
            )
        )
        if len(batch) == 5000 or n == count - 1:
            created = Task.objects.bulk_create(batch)
            through.objects.bulk_create(
                [through(task_id=t.pk, label_id=label.pk) for i, t in enumerate(created) if i % 5 == 0]
            )
            batch = []
    return user


if __name__ == "__main__":
    main()
