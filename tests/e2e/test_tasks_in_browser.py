"""In a real browser: add a task with a list, a label and a due date, see it under Today, complete it, find it under Completed."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from apps.todos.services import task_list_create
from tests.e2e.conftest import screenshot
from tests.e2e.test_keys_in_browser import log_in_as_demo
from tests.web.a11y import accessibility_problems

pytestmark = pytest.mark.django_db(transaction=True)


def _walk(page, *, javascript: bool = True) -> None:
    page.get_by_role("link", name="Tasks", exact=True).click()
    expect(page.get_by_role("heading", name="Tasks", exact=True)).to_be_visible()
    page.get_by_label("Task", exact=True).fill("buy oat milk")
    page.get_by_label("List", exact=True).select_option(label="Shopping")
    page.get_by_label("Due date", exact=True).fill(timezone.localdate().isoformat())
    page.get_by_label("Labels (comma-separated)").fill("urgent")
    page.get_by_role("button", name="Add task").click()

    expect(page.get_by_role("link", name="Today")).to_have_attribute("aria-current", "page")
    row = page.locator(".task-row", has_text="buy oat milk")
    expect(row).to_contain_text("Shopping")
    expect(row).to_contain_text("#urgent")
    assert accessibility_problems(page.content()) == []
    screenshot(page, "tasks-today")

    row.get_by_role("button", name="Complete “buy oat milk”").click()
    if javascript:  # htmx swapped the row in place
        expect(page.locator(".task-row.task-done", has_text="buy oat milk")).to_be_visible()
    else:  # a plain form post and a redirect back to Today
        expect(page.get_by_role("status")).to_contain_text("“buy oat milk” done.")

    page.get_by_role("link", name="Completed").click()
    expect(page.locator(".task-row", has_text="buy oat milk")).to_contain_text("done")
    page.get_by_role("link", name="Today").click()
    expect(page.locator(".task-row", has_text="buy oat milk")).to_have_count(0)
    assert accessibility_problems(page.content()) == []
    screenshot(page, "tasks-completed")


def test_add_a_task_see_it_today_complete_it_and_find_it_under_completed(page):
    log_in_as_demo(page, "/chat/")
    task_list_create(user=get_user_model().objects.get(username="demo"), name="Shopping")
    page.reload()
    _walk(page)


def test_the_same_walk_works_without_javascript(browser, live_url):
    context = browser.new_context(base_url=live_url, java_script_enabled=False)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        log_in_as_demo(page, "/chat/")
        task_list_create(user=get_user_model().objects.get(username="demo"), name="Shopping")
        page.reload()
        _walk(page, javascript=False)
    finally:
        context.close()
