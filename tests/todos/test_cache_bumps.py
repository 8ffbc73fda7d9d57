"""Every write service of the todo data bumps the user's data version, so no cached tool result outlives a write."""

from __future__ import annotations

import inspect

import apps.todos.services as services


def _public_services() -> dict[str, object]:
    return {
        name: fn
        for name, fn in vars(services).items()
        if inspect.isfunction(fn)
        and not name.startswith("_")
        and fn.__module__ == services.__name__
        and inspect.getsource(fn).lstrip().startswith("@transaction.atomic")  # the writes
    }


def test_every_write_service_calls_user_data_changed_or_another_service_that_does():
    found = _public_services()
    assert found, "no services found"
    missing = []
    for name, fn in found.items():
        source = inspect.getsource(fn)
        others = [other for other in found if other != name and f"{other}(" in source]
        if "user_data_changed(" not in source and not others:
            missing.append(name)
    assert not missing, f"these write services do not bump the data version (apps.core.cache.user_data_changed): {missing}"
