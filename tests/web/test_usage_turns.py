"""/usage/: turns per day beside tokens and cost, and which of them the offline assistant answered."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.selectors import turns_by_day
from apps.audit.services import audit_record, usage_record
from tests.factories import audit_events_backdate
from tests.web.conftest import make_conversation


def a_turn(user, *, provider: str, fallback: bool = False, days_ago: int = 0):
    """A turn as chat records it: its audit event and, for a model, its usage."""
    event = audit_record(
        actor=user, action="chat.turn", metadata={"provider": provider, "model": "m", "fallback_used": fallback}
    )
    if days_ago:
        audit_events_backdate(AuditEvent.objects.filter(pk=event.pk), timezone.now() - timedelta(days=days_ago))
    if provider != "offline":
        usage_record(user=user, provider=provider, model="m", input_tokens=100, output_tokens=20, cost=Decimal("0.0001"))


def test_offline_turns_are_counted_though_they_record_no_tokens(user_a):
    make_conversation(user_a, "add buy milk")  # the real offline turn (2 model calls: a tool call, then the answer)
    make_conversation(user_a, "list my tasks")
    [row] = turns_by_day(user=user_a)
    assert (row["provider"], row["turns"], row["fallback_turns"]) == ("offline", 2, 0)
    assert row["day"] == timezone.localdate()


def test_turns_are_split_by_the_provider_that_answered_and_by_day(user_a, user_b):
    a_turn(user_a, provider="openai")
    a_turn(user_a, provider="offline", fallback=True)
    a_turn(user_a, provider="offline", days_ago=2)
    a_turn(user_a, provider="offline", days_ago=45)  # outside the 30 days
    a_turn(user_b, provider="offline")  # someone else's
    rows = turns_by_day(user=user_a, days=30)
    today = timezone.localdate()
    assert [(r["day"] == today, r["provider"], r["turns"], r["fallback_turns"]) for r in rows] == [
        (False, "offline", 1, 0),
        (True, "offline", 1, 1),
        (True, "openai", 1, 0),
    ]


def test_the_usage_page_shows_turns_beside_tokens_and_says_which_were_offline(page_a, user_a, user_b):
    a_turn(user_a, provider="openai")
    a_turn(user_a, provider="offline")
    a_turn(user_a, provider="offline", fallback=True)
    a_turn(user_b, provider="offline")
    page = page_a.get("/usage/").content.decode()

    summary = re.sub(r"\s+", " ", page.split('id="offline-summary">')[1].split("</p>")[0]).strip()
    assert summary.startswith("3 turns; <strong>2 answered offline</strong> by the rule-based assistant (1 after")
    table = page.split('<table class="stacked usage-table">')[1]
    offline_row = re.search(r'<tr class="usage-offline">(.*?)</tr>', table).group(1)
    assert "answered offline" in offline_row and '<td data-label="Turns">2 ' in offline_row
    assert '<td data-label="Input tokens">0</td>' in offline_row
    openai_row = re.search(r"<tr><td data-label=\"Day\">[^<]+</td><td data-label=\"Provider\">openai</td>(.*?)</tr>", table)
    assert '<td data-label="Turns">1</td>' in openai_row.group(1) and ">100<" in openai_row.group(1)
    assert re.search(r"<title>\d{4}-\d\d-\d\d offline: 2</title>", page)  # the turns chart
    assert page.count("<svg viewBox=") == 3


def test_a_user_without_turns_sees_a_plain_sentence(page_a):
    page = page_a.get("/usage/").content.decode()
    assert "No chat turns in these days." in page and "No chat turns or model calls in the last 30 days." in page
