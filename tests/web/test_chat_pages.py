"""/chat/ and /usage/: the same chat, preference and usage services as the API, shaped for a page."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

import pytest
from django.test import Client

from apps.audit.services import usage_record
from apps.chat.models import Conversation
from apps.providers.models import ProviderConfig
from apps.providers.selectors import provider_preference_get
from apps.todos.models import Task
from apps.web import presenters
from tests.chat.conftest import parse_sse
from tests.web.conftest import make_conversation


def test_a_plain_form_post_runs_the_turn_and_redirects_to_the_conversation(page_a, user_a):
    response = page_a.post("/chat/send/", {"message": "add buy milk", "conversation_id": ""})

    conversation = Conversation.objects.get(owner=user_a)
    assert response.status_code == 302 and response["Location"] == f"/chat/{conversation.pk}/"
    page = page_a.get(response["Location"]).content.decode()
    assert 'aria-label="Tool call add_task"' in page and "buy milk" in page
    assert "Offline mode" in page  # the answer's banner, carried by the messages framework
    assert Task.objects.get(owner=user_a).title == "buy milk"


def test_the_script_gets_server_sent_events_with_rendered_tool_cards_and_banners(page_a, user_a):
    response = page_a.post("/chat/send/", {"message": "add buy milk"}, headers={"Accept": "text/event-stream"})

    assert response["Content-Type"].startswith("text/event-stream")
    events = parse_sse(b"".join(response.streaming_content).decode())
    kinds = [e["type"] for e in events]
    assert kinds[0] == "conversation" and kinds[-1] == "done" and "tool_call" in kinds and "text" in kinds
    card = next(e for e in events if e["type"] == "tool_call")
    assert card["name"] == "add_task" and '<article class="tool-card"' in card["html"]
    assert "Offline mode" in events[-1]["html"]
    assert events[-1]["answer"]["reply"]


def test_a_second_message_continues_the_same_conversation(page_a, user_a):
    conversation_id = make_conversation(user_a)
    page_a.post("/chat/send/", {"message": "list my tasks", "conversation_id": str(conversation_id)})
    assert Conversation.objects.filter(owner=user_a).count() == 1
    assert Conversation.objects.get().messages.filter(role="user").count() == 2


def test_tool_output_is_escaped_in_the_card(page_a, user_a):
    page_a.post("/chat/send/", {"message": "add <script>alert(1)</script>"})
    page = page_a.get(f"/chat/{Conversation.objects.get().pk}/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_blank_message_is_reported_next_to_the_message_field(page_a, user_a):
    response = page_a.post("/chat/send/", {"message": "   "})
    assert response.status_code == 400
    assert re.search(r'<ul class="errorlist" id="id_message_error"><li>This field may not be blank', response.content.decode())

    streamed = page_a.post("/chat/send/", {"message": ""}, headers={"Accept": "text/event-stream"})
    assert streamed.status_code == 400
    assert streamed.json()["error"]["extra"]["fields"]["message"] == ["This field may not be blank."]
    assert not Conversation.objects.exists()


def test_choosing_a_provider_and_model_uses_the_preference_service(page_a, user_a):
    model = ProviderConfig.objects.get(name="anthropic").model_names[-1]  # not the default one
    page = page_a.get("/chat/").content.decode()
    assert f'<option value="anthropic:{model}"' in page

    response = page_a.post("/chat/provider/", {"choice": f"anthropic:{model}"})
    assert response.status_code == 302 and response["Location"] == "/chat/"
    provider, chosen = provider_preference_get(user=user_a)
    assert (provider.name, chosen) == ("anthropic", model)
    assert f"Using <strong>Anthropic</strong> · <code>{model}</code>" in page_a.get("/chat/").content.decode()


def test_an_unknown_provider_choice_is_reported_on_the_select(page_a):
    response = page_a.post("/chat/provider/", {"choice": "nope:model"})
    assert response.status_code == 400
    assert 'id="id_choice_error"' in response.content.decode()


def test_delete_asks_then_removes_the_conversation(page_a, user_a):
    conversation_id = make_conversation(user_a)
    assert "Delete this conversation?" in page_a.get(f"/chat/{conversation_id}/delete/").content.decode()
    response = page_a.post(f"/chat/{conversation_id}/delete/")
    assert response.status_code == 302 and response["Location"] == "/chat/"
    assert not Conversation.objects.filter(pk=conversation_id).exists()


def test_usage_shows_quota_bars_and_a_chart_of_tokens_and_cost(page_a, user_a):
    from apps.limits.models import UserPolicy

    UserPolicy.objects.update_or_create(user=None, defaults={"tokens_per_month": 1000})
    usage_record(user=user_a, provider="openai", model="gpt-4o-mini", input_tokens=600, output_tokens=250, cost=Decimal("0.0012"))
    page = page_a.get("/usage/").content.decode()

    assert re.search(r'<label for="quota-openai-\d+">openai — your monthly token quota for OpenAI</label>', page)
    assert re.search(r'<progress id="quota-openai-\d+" max="1000" value="850">', page)
    assert "Quota warning (80 %)" in page  # 85% of the limit
    assert page.count('<svg viewBox=') == 3 and page.count("<rect ") == 2  # turns (none here), tokens, cost
    assert re.search(r"<title>\d{4}-\d\d-\d\d openai: 850</title>", page)
    assert re.search(r"<title>\d{4}-\d\d-\d\d openai: \$0\.0012</title>", page)


def test_banners_for_fallback_cache_and_quota():
    answer = {"provider": "offline", "fallback_used": True, "cached": True, "warnings": ["OpenAI could not answer"]}
    titles = [b.title for b in presenters.answer_banners(answer, offline_name="offline")]
    assert titles == ["Offline mode", "Fallback used", "Cached answer", "Note"]
    def quota(used, limit):
        return {"provider": "p", "quota": "your monthly token quota for P", "unit": "tokens", "used": used,
                "limit": limit, "fraction": used / limit if limit else None, "resets_at": "2027-01-01T00:00:00+00:00"}

    quotas = [quota(10, 100), quota(80, 100), quota(96, 100), quota(120, 100), quota(10**6, None)]
    assert [(b.level, b.title) for b in presenters.quota_banners(quotas)] == [
        ("warning", "Quota warning (80 %)"),
        ("warning", "Quota almost used (95 %)"),
        ("error", "Quota reached"),
    ]


def test_the_chart_stacks_providers_per_day_and_scales_to_the_peak():
    today = date(2026, 11, 24)
    rows = [
        {"day": today, "provider": "openai", "input_tokens": 60, "output_tokens": 40, "cost": Decimal("0")},
        {"day": today, "provider": "anthropic", "input_tokens": 50, "output_tokens": 50, "cost": Decimal("0")},
        {"day": date(2020, 1, 1), "provider": "old", "input_tokens": 5, "output_tokens": 0, "cost": Decimal("0")},
    ]
    chart = presenters.stacked_bar_chart(
        rows, value=lambda r: r["input_tokens"] + r["output_tokens"], days=7, today=today, fmt=presenters.format_tokens
    )
    assert len(chart["bars"]) == 2  # the day outside the window is left out
    lower, upper = chart["bars"]
    assert lower["x"] == upper["x"] and upper["y"] + upper["h"] == pytest.approx(lower["y"])
    assert lower["y"] + lower["h"] == pytest.approx(chart["baseline"])
    assert upper["y"] == pytest.approx(12)  # 200 tokens is the peak: the stack reaches the top
    assert chart["ticks"][-1]["label"] == "200"


@pytest.mark.django_db
def test_the_event_stream_needs_the_csrf_token_too(user_a):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user_a)
    response = strict.post("/chat/send/", {"message": "add x"}, headers={"Accept": "text/event-stream"})
    assert response.status_code == 403
    assert not Conversation.objects.exists()


def test_pretty_prints_json_text_and_leaves_other_text_alone():
    assert presenters.pretty('{"a": 1}') == json.dumps({"a": 1}, indent=2)
    assert presenters.pretty("Error: no such task") == "Error: no such task"
