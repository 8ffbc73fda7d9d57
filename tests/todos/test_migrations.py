"""The lists migration keeps every existing task: each owner gets an Inbox and all their tasks land in it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("todos", "0001_initial")]


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes("todos")


def test_existing_tasks_move_into_each_owners_inbox():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    User, Task = old.get_model("auth", "User"), old.get_model("todos", "Task")
    ann, bob = User.objects.create(username="ann-m"), User.objects.create(username="bob-m")
    for n in range(3):
        Task.objects.create(owner=ann, title=f"ann {n}", priority="high" if n == 0 else "normal")
    Task.objects.create(owner=bob, title="bob 0", completed=True, completed_at="2026-11-01T10:00:00Z", priority="low")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(_latest())
    new = executor.loader.project_state(_latest()).apps
    Task, TaskList = new.get_model("todos", "Task"), new.get_model("todos", "TaskList")
    assert Task.objects.count() == 4
    for username, count in (("ann-m", 3), ("bob-m", 1)):
        inbox = TaskList.objects.get(owner__username=username, is_inbox=True)
        assert inbox.name == "Inbox"
        assert Task.objects.filter(task_list=inbox).count() == count
    assert Task.objects.get(title="ann 0").priority_rank == 2
    assert Task.objects.get(title="bob 0").priority_rank == 0 and Task.objects.get(title="bob 0").completed
