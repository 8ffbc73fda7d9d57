"""In a real browser, with a real worker's timing: Validate shows "checking…", and the row updates itself
(htmx polling) when the worker's result lands — simulated here by writing the result from the test."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from apps.providers.tasks import provider_key_validate_task
from tests.e2e.conftest import screenshot
from tests.e2e.test_keys_in_browser import log_in_as_demo
from tests.web.a11y import accessibility_problems
from tests.web.conftest import make_key
from tests.web.test_key_polling import worker_finishes

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_key_row_updates_itself_when_the_worker_finishes(page, monkeypatch):
    queued = []
    monkeypatch.setattr("apps.providers.validation._runs_inline", lambda: False)  # a worker, not eager
    monkeypatch.setattr(provider_key_validate_task, "apply_async", lambda args=(), **options: queued.append(*args))  # the broker
    log_in_as_demo(page, "/settings/keys/")
    key = make_key(get_user_model().objects.get(username="demo"), label="work laptop", key="sk-e2e-key-Q7x2")
    page.reload()
    row_asks = []
    page.on("request", lambda r: row_asks.append(r.url) if f"/settings/keys/{key.pk}/row/" in r.url else None)

    row = page.locator(f"#key-{key.pk}")
    expect(row).to_contain_text("Never checked")
    row.get_by_role("button", name=re.compile("^Validate key")).click()
    expect(row.locator(".status-checking")).to_have_text("checking…")
    expect(row).to_contain_text("Checking with OpenAI…")
    assert queued == [key.pk]
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    page.wait_for_timeout(2500)
    assert len(row_asks) >= 1  # it asks while checking…
    expect(row).to_contain_text("Checking with OpenAI…")  # …and nothing changed yet
    assert accessibility_problems(page.content()) == []
    screenshot(page, "key-checking")

    worker_finishes(key)  # the worker's result, written as the task would

    expect(row).to_contain_text("accepted this key", timeout=8_000)
    expect(row.locator(".status-checking")).to_have_count(0)
    expect(row.locator(".status-checked")).to_have_text(re.compile(r"^Last checked 0\s+minutes ago$"))
    assert page.evaluate("window.sameDocument") is True  # no reload
    asks = len(row_asks)
    page.wait_for_timeout(2500)
    assert len(row_asks) == asks  # polling stopped with the result
    assert accessibility_problems(page.content()) == []
    screenshot(page, "key-checked")
