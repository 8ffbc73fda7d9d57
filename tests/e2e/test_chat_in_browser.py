"""In a real browser: pick the offline provider, chat "add buy milk", see the tool card and the answer
stream in, find the task in the API, and see the turn on /usage/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.todos.models import Task
from tests.e2e.conftest import screenshot
from tests.e2e.test_keys_in_browser import log_in_as_demo
from tests.web.a11y import accessibility_problems

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_user_chats_with_the_offline_provider_and_sees_the_usage(page):
    log_in_as_demo(page, "/chat/")

    page.get_by_label("Provider and model").select_option(value="offline:offline-rules")
    page.get_by_role("button", name="Use", exact=True).click()
    expect(page.locator("#current-provider")).to_contain_text("Offline assistant")
    expect(page.locator("#banners")).to_contain_text("Offline mode")

    page.get_by_label("Message").fill("add buy milk")
    page.get_by_label("Message").press("Enter")  # keyboard: Enter sends

    card = page.get_by_role("article", name="Tool call add_task")
    expect(card).to_be_visible()
    expect(card.locator(".tool-arguments")).to_contain_text("buy milk")
    answer = page.locator(".bubble-assistant").last
    expect(answer).to_contain_text("buy milk")
    expect(answer.locator(".bubble-meta")).to_contain_text("offline")
    expect(page).to_have_url(re.compile(r"/chat/\d+/$"))
    expect(page.locator("#conversation-list")).to_contain_text("add buy milk")
    expect(page.locator("#banners")).to_contain_text("Offline mode")
    assert accessibility_problems(page.content()) == []
    screenshot(page, "chat")

    # The task really exists, as the REST API (same session) reports it.
    tasks = page.request.get("/api/v1/tasks/").json()
    assert [t["title"] for t in tasks["results"]] == ["buy milk"]
    assert Task.objects.get().owner.username == "demo"

    # Reloading shows the stored transcript, tool card included.
    page.reload()
    expect(page.get_by_role("article", name="Tool call add_task")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "chat-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name="Usage").click()
    expect(page.get_by_role("heading", name="Usage", exact=True)).to_be_visible()
    expect(page.locator("table.usage-table tbody tr")).to_have_count(1)
    expect(page.locator("table.usage-table tbody tr")).to_contain_text("offline")
    assert accessibility_problems(page.content()) == []
    screenshot(page, "usage")

    # Delete the conversation, with confirmation.
    page.go_back()
    page.get_by_role("link", name="Delete conversation").click()
    expect(page.get_by_role("heading", name="Delete this conversation?")).to_be_visible()
    screenshot(page, "chat-delete")
    page.get_by_role("button", name="Delete conversation").click()
    expect(page).to_have_url(re.compile(r"/chat/$"))
    expect(page.locator("#conversation-list")).to_contain_text("No conversations yet")


def test_a_message_sent_while_the_conversation_is_still_answering_is_refused_and_kept(page):
    from datetime import timedelta

    from django.utils import timezone

    from apps.chat.models import Conversation, Message

    log_in_as_demo(page, "/chat/")
    page.wait_for_load_state()  # chat.js is in place: the page streams, and shows errors by the field
    page.get_by_label("Message").fill("add buy milk")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".bubble-assistant").last).to_contain_text("buy milk")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    conversation = Conversation.objects.get()
    # Another tab's turn is being answered right now.
    Conversation.objects.filter(pk=conversation.pk).update(
        turn_lease_id="another-tab", turn_lease_until=timezone.now() + timedelta(seconds=60)
    )

    page.get_by_label("Message").fill("add buy eggs")
    page.get_by_role("button", name="Send").click()

    expect(page.locator("#id_message_error")).to_contain_text("still answering another message")
    expect(page.get_by_label("Message")).to_have_value("add buy eggs")  # nothing typed is lost
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    assert Message.objects.filter(conversation=conversation, role="user").count() == 1
    screenshot(page, "chat-turn-in-progress")


def test_an_inline_script_is_refused_by_the_pages_csp(page, live_url):
    page.goto("/accounts/login/")
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1'; document.head.append(s); }")
    assert page.evaluate("() => window.__inline") is None
    assert any("inline script" in text for text in page.csp_refusals)
    page.csp_refusals.clear()  # expected here; the fixture fails a page on any other
