"""In a real browser: log in as the demo user, add a key, see only its last 4, validate it, delete it."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from apps.providers.models import ProviderConfig
from tests.e2e.conftest import screenshot
from tests.web.a11y import accessibility_problems

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "sk-e2e-Never-Shown-7Qx2"


def log_in_as_demo(page, next_path: str) -> None:
    call_command("createdemo", stdout=open("/dev/null", "w"), stderr=open("/dev/null", "w"))
    page.goto(next_path)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    assert accessibility_problems(page.content()) == []
    screenshot(page, "login")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo-password")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))


def test_demo_user_manages_a_key_without_ever_seeing_it_again(page, fake_provider):
    ProviderConfig.objects.filter(name="openai").update(base_url=fake_provider.openai_base_url)
    fake_provider.expected_key = SECRET
    log_in_as_demo(page, "/settings/keys/")

    # The first Tab reaches the skip link: the page is usable from the keyboard from the top.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()

    # An error from the vault appears next to the field it concerns, and the input is not refilled.
    page.get_by_label("Provider").select_option(label="OpenAI")
    page.get_by_label("API key").fill("too short")
    page.get_by_role("button", name="Add key").click()
    expect(page.locator("#id_key_error")).to_contain_text("printable characters without spaces")
    expect(page.get_by_label("API key")).to_have_value("")
    assert accessibility_problems(page.content()) == []

    page.get_by_label("Provider").select_option(label="OpenAI")
    page.get_by_label("Label (optional)").fill("work laptop")
    page.get_by_label("API key").fill(SECRET)
    page.get_by_role("button", name="Add key").click()

    row = page.locator("tbody tr", has_text="work laptop")
    expect(row).to_contain_text("…7Qx2")
    expect(page.get_by_role("status").first).to_contain_text("added")
    assert SECRET not in page.content()
    source = page.request.get("/settings/keys/").text()  # the HTML as served, not the live DOM
    assert SECRET not in source and "…7Qx2" in source
    assert accessibility_problems(page.content()) == []

    # Validate (htmx swaps the row in place): the fake provider accepts exactly this key.
    row.get_by_role("button", name=re.compile("^Validate key")).click()
    expect(row).to_contain_text("accepted this key")
    assert fake_provider.last().api_key() == SECRET  # the vault really opened and sent it
    screenshot(page, "keys")

    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "keys-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    row.get_by_role("link", name=re.compile("^Delete key")).click()
    expect(page.get_by_role("heading", name="Delete this key?")).to_be_visible()
    assert accessibility_problems(page.content()) == []
    screenshot(page, "key-delete")
    page.get_by_role("button", name="Delete key").click()
    expect(page.get_by_role("status").first).to_contain_text("deleted")
    expect(page.locator("tbody tr", has_text="work laptop")).to_have_count(0)

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
