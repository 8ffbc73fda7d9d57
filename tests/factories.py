"""Small builders for test data (plain functions: the models are simple)."""

from __future__ import annotations

import itertools

from django.contrib.auth import get_user_model

from apps.keys.services import access_token_create
from apps.todos.models import Task

_counter = itertools.count(1)


def make_user(username: str | None = None, password: str = "pw-for-tests-123"):
    username = username or f"user{next(_counter)}"
    return get_user_model().objects.create_user(username=username, password=password)


def make_task(owner, **fields) -> Task:
    from apps.todos.models import PRIORITY_RANKS
    from apps.todos.services import task_list_inbox

    fields.setdefault("title", f"task {next(_counter)}")
    fields.setdefault("task_list", task_list_inbox(user=owner))
    fields.setdefault("priority_rank", PRIORITY_RANKS.get(fields.get("priority", "normal"), 1))
    return Task.objects.create(owner=owner, **fields)


def make_token(user, name: str = "tests") -> str:
    return access_token_create(user=user, name=name).plaintext
