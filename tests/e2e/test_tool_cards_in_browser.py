"""In a real browser: a tool call shows as one line ("Added task #… ‘buy oat milk’, due tomorrow"), its
arguments and JSON result folded behind a toggle — the same while the answer streams in and after a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.e2e.test_keys_in_browser import log_in_as_demo
from tests.web.a11y import accessibility_problems

pytestmark = pytest.mark.django_db(transaction=True)

SUMMARY = re.compile(r"^Added task #\d+ ‘buy oat milk’, due tomorrow$")


def check_folded_card(page, phase: str) -> None:
    card = page.get_by_role("article", name="Tool call add_task")
    expect(card).to_have_count(1)
    summary = card.locator(".tool-summary")
    expect(summary).to_be_visible()
    expect(summary).to_have_text(SUMMARY)
    # Folded: the arguments and the result are in the page but not shown.
    expect(card.locator(".tool-arguments")).to_be_hidden()
    expect(card.locator(".tool-result")).to_be_hidden()
    assert accessibility_problems(page.content()) == []
    screenshot(page, f"tool-card-{phase}-folded")

    card.locator("summary").click()  # the toggle
    expect(card.locator(".tool-arguments")).to_be_visible()
    expect(card.locator(".tool-arguments")).to_contain_text('"title": "buy oat milk"')
    expect(card.locator(".tool-result")).to_be_visible()
    expect(card.locator(".tool-result")).to_contain_text('"completed": false')
    expect(card.locator(".tool-name")).to_have_text("add_task")
    screenshot(page, f"tool-card-{phase}-open")

    card.locator("summary").press("Enter")  # and from the keyboard, folded again
    expect(card.locator(".tool-arguments")).to_be_hidden()


def test_the_tool_card_is_one_line_with_the_json_folded_when_streamed_and_after_reload(page):
    log_in_as_demo(page, "/chat/")
    page.get_by_label("Message").fill("add buy oat milk tomorrow")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#chat-status")).to_have_text("Answer received.")
    expect(page).to_have_url(re.compile(r"/chat/\d+/$"))
    check_folded_card(page, "streamed")

    page.reload()
    expect(page.locator(".bubble-user")).to_have_count(1)
    check_folded_card(page, "reloaded")
