"""Per-user request limits: REST writes and chat turns (429 + RateLimit fields), the chat page, MCP tools/call,
login and key creation (django-ratelimit, 429 not 403)."""

from __future__ import annotations

import re

import httpx2
import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.chat.models import Message
from apps.limits.models import UserPolicy
from apps.todos.models import Task
from tests.factories import make_token, make_user

RATELIMIT_RE = re.compile(r'^"api-writes";r=(\d+);t=(\d+)$')


def default_policy(**fields) -> UserPolicy:
    policy, _ = UserPolicy.objects.update_or_create(user=None, defaults=fields)
    return policy


@pytest.mark.django_db
def test_a_successful_write_carries_the_ratelimit_fields(client_a):
    default_policy(api_writes_per_minute=5)
    response = client_a.post("/api/v1/tasks/", {"title": "one"}, format="json")
    assert response.status_code == 201
    assert response["RateLimit-Policy"] == '"api-writes";q=5;w=60'
    remaining, reset = RATELIMIT_RE.match(response["RateLimit"]).groups()
    assert remaining == "4" and 0 < int(reset) <= 60


@pytest.mark.django_db
def test_past_the_write_limit_a_429_with_retry_after_and_nothing_done(client_a, user_a):
    default_policy(api_writes_per_minute=2)
    for title in ("one", "two"):
        assert client_a.post("/api/v1/tasks/", {"title": title}, format="json").status_code == 201

    response = client_a.post("/api/v1/tasks/", {"title": "three"}, format="json")

    assert response.status_code == 429
    body = response.json()["error"]
    assert body["code"] == "rate_limited" and "2 per minute" in body["message"]
    assert 1 <= int(response["Retry-After"]) <= 60 and body["extra"]["retry_after"] == int(response["Retry-After"])
    assert response["RateLimit-Policy"] == '"api-writes";q=2;w=60'
    assert RATELIMIT_RE.match(response["RateLimit"]).group(1) == "0"
    assert list(Task.objects.values_list("title", flat=True).order_by("title")) == ["one", "two"]
    assert client_a.get("/api/v1/tasks/").status_code == 200  # reads are not limited
    event = AuditEvent.objects.get(action="limit.exceeded")
    assert event.actor == user_a and event.outcome == "denied" and event.metadata["policy"] == "api_writes"


@pytest.mark.django_db
def test_a_refused_chat_turn_stores_no_message(client_a):
    default_policy(api_writes_per_minute=1)
    assert client_a.post("/api/v1/chat/", {"message": "add milk"}, format="json").status_code == 200
    stored = Message.objects.count()

    response = client_a.post("/api/v1/chat/", {"message": "add eggs"}, format="json")

    assert response.status_code == 429 and "Retry-After" in response
    assert Message.objects.count() == stored and not Message.objects.filter(content="add eggs").exists()


@pytest.mark.django_db
def test_the_users_own_write_limit_wins_over_the_default(client_a, user_a):
    default_policy(api_writes_per_minute=1)
    UserPolicy.objects.create(user=user_a, api_writes_per_minute=3)
    codes = [client_a.post("/api/v1/tasks/", {"title": f"t{i}"}, format="json").status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]


@pytest.mark.django_db
def test_the_chat_page_says_so_and_keeps_the_message_unstored(page_a):
    default_policy(api_writes_per_minute=1)
    assert page_a.post("/chat/send/", {"message": "add milk"}).status_code == 302

    response = page_a.post("/chat/send/", {"message": "add eggs"})

    assert response.status_code == 429 and "Retry-After" in response
    assert "Too many requests that change data" in response.content.decode()
    assert not Message.objects.filter(content="add eggs").exists()
    streamed = page_a.post("/chat/send/", {"message": "add eggs"}, HTTP_ACCEPT="text/event-stream")
    assert streamed.status_code == 429 and streamed.json()["error"]["code"] == "rate_limited"


@pytest.mark.django_db(transaction=True)
def test_mcp_tools_call_past_the_limit_is_an_http_429_with_retry_after(live_server_url):
    default_policy(mcp_calls_per_minute=2)
    user = make_user("mcp-limited")
    token = make_token(user)
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
               "Authorization": f"Bearer {token}", "Mcp-Protocol-Version": "2025-11-25"}

    def call(i):
        message = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                   "params": {"name": "add_task", "arguments": {"title": f"t{i}"}}}
        return httpx2.post(f"{live_server_url}/mcp", json=message, headers=headers, timeout=10)

    assert [call(i).status_code for i in (1, 2)] == [200, 200]
    refused = call(3)
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-policy"] == '"mcp-calls";q=2;w=60'
    assert "MCP tool calls" in refused.json()["error"]["message"]
    assert Task.objects.filter(owner=user).count() == 2
    listed = httpx2.post(f"{live_server_url}/mcp", json={"jsonrpc": "2.0", "id": 9, "method": "tools/list"},
                         headers=headers, timeout=10)
    assert listed.status_code == 200  # only tools/call is limited


@pytest.mark.django_db
def test_the_login_form_is_limited_with_a_429(settings):
    settings.LOGIN_RATE_LIMIT = "3/m"
    make_user("victim", password="right-password-123")
    client = Client()
    codes = [client.post("/accounts/login/", {"username": "victim", "password": f"wrong{i}"}).status_code
             for i in range(4)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    refused = client.post("/accounts/login/", {"username": "victim", "password": "right-password-123"})
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    assert Client().get("/accounts/login/").status_code == 200  # the form itself still shows


@pytest.mark.django_db
def test_key_creation_is_limited_with_a_429(client_a, settings, providers_at_fake):
    settings.KEY_CREATE_RATE_LIMIT = "2/m"
    codes = [client_a.post("/api/v1/keys/", {"provider": "openai", "key": f"sk-limit-test-000{i}"},
                           format="json").status_code for i in range(3)]
    assert codes[2] == 429 and codes[:2] != [429, 429]
    assert client_a.post("/api/v1/keys/", {"provider": "openai", "key": "sk-limit-test-0009"},
                         format="json")["Retry-After"] == "60"
