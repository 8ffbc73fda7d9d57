"""In a real browser: two turns with the offline assistant (0 tokens each) show on /usage/ as turns answered offline."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.e2e.test_keys_in_browser import log_in_as_demo
from tests.web.a11y import accessibility_problems

pytestmark = pytest.mark.django_db(transaction=True)


def test_offline_turns_are_counted_on_the_usage_page(page):
    log_in_as_demo(page, "/chat/")
    for text in ("add buy oat milk", "what is due this week?"):
        page.get_by_label("Message").fill(text)
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#chat-status")).to_have_text("Answer received.", timeout=15_000)
        expect(page.get_by_role("button", name="Send")).to_be_enabled()

    page.get_by_role("link", name="Usage").click()
    expect(page.locator("#offline-summary")).to_contain_text(re.compile(r"2 turns;\s+2 answered offline"))
    row = page.locator("table.usage-table tbody tr.usage-offline")
    expect(row).to_have_count(1)
    expect(row.locator('td[data-label="Provider"]')).to_contain_text("answered offline")
    expect(row.locator('td[data-label="Turns"]')).to_have_text("2")
    expect(row.locator('td[data-label="Input tokens"]')).to_have_text("0")  # what made them invisible before
    turns_chart = page.get_by_role("img", name="Turns per day and provider")
    expect(turns_chart.locator("rect")).to_have_count(1)
    expect(turns_chart.locator("rect title")).to_have_text(re.compile(r"\d{4}-\d\d-\d\d offline: 2$"))
    assert accessibility_problems(page.content()) == []
    screenshot(page, "usage-offline-turns")
