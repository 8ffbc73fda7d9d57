"""One user, two sessions, one conversation: the chat page (session) and an API token send turns at once.

test_chat_concurrency.py races API turns only; test_chat_disconnect.py cuts a stream during the
first model call and before anything is read. Here: the page's own endpoint against the API, both
ways round, streamed and not, and a stream cut during a tool call and in the middle of the text.
The app runs in its own process (tests/chat/live.py), on SQLite or, with DATABASE_URL and
REDIS_URL set, on PostgreSQL and Redis.
"""

from __future__ import annotations

import threading
import time

import httpx2
import pytest
from django.test import Client

from apps.chat.models import Conversation, Message
from apps.keys.vault import provider_key_create
from apps.providers.models import ProviderConfig
from apps.providers.services import provider_preference_set
from apps.todos.models import Task
from tests.chat.conftest import parse_sse
from tests.chat.test_chat_disconnect import _wait_for_the_turn
from tests.factories import make_token, make_user
from tests.fakes.provider_server import ScriptedToolCall

pytestmark = pytest.mark.django_db(transaction=True)

CSRF = "c" * 32  # the page's CSRF cookie and header: Django compares the two


def _user_with_slow_model(fake_provider, name: str):
    """A user whose model takes a second before asking for add_task, then answers."""
    user = make_user(name)
    ProviderConfig.objects.filter(name="openai").update(base_url=fake_provider.openai_base_url)
    provider_key_create(user=user, provider_name="openai", key=f"sk-two-sessions-{name}")
    provider_preference_set(user=user, provider_name="openai")
    fake_provider.fault("openai", "slow", delay=1.0, tool_calls=(ScriptedToolCall("add_task", {"title": "buy milk"}),))
    fake_provider.fault("openai", "slow", delay=0.5, text="Added buy milk, " + "and more words " * 20)
    return user


def _signed_in(user) -> str:
    """A session for the page (made before the server starts: on SQLite it gets a copy of the data)."""
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _browser(session: str, server) -> httpx2.Client:
    return httpx2.Client(
        base_url=server.url, timeout=15,
        cookies={"sessionid": session, "csrftoken": CSRF},
        headers={"X-CSRFToken": CSRF, "Referer": f"{server.url}/chat/"},
    )  # fmt: skip


def _page_turn(browser: httpx2.Client, conversation_id: int, text: str, *, stream: bool) -> httpx2.Response:
    headers = {"Accept": "text/event-stream"} if stream else {}
    return browser.post("/chat/send/", data={"conversation_id": conversation_id, "message": text}, headers=headers)


def _wait_for_the_first_model_call(fake_provider) -> None:
    deadline = time.monotonic() + 10
    while not fake_provider.requests_to("openai"):
        assert time.monotonic() < deadline, "the first turn never reached its model"
        time.sleep(0.02)


def _assert_one_whole_turn(user, conversation, title: str) -> None:
    rows = list(Message.objects.filter(conversation=conversation).order_by("id"))
    assert [r.role for r in rows] == ["user", "assistant", "tool", "assistant"], [(r.role, r.content) for r in rows]
    assert rows[0].content == f"add {title}"  # the refused turn's message was never stored
    assert list(Task.objects.filter(owner=user).values_list("title", flat=True)) == ["buy milk"]
    conversation.refresh_from_db()
    assert conversation.turn_lease_until is None and conversation.turn_lease_id == ""  # the lease given back


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_the_page_turn_runs_and_the_api_turn_in_the_same_conversation_gets_409(app_server, fake_provider, stream):
    user = _user_with_slow_model(fake_provider, "two-tabs")
    conversation = Conversation.objects.create(owner=user, title="shared")
    session, token = _signed_in(user), make_token(user)
    server = app_server()
    browser = _browser(session, server)
    outcome: list[httpx2.Response] = []
    page = threading.Thread(target=lambda: outcome.append(_page_turn(browser, conversation.pk, "add buy milk", stream=stream)))
    page.start()
    # The page's turn holds the lease while its model thinks; the API's turn arrives meanwhile.
    _wait_for_the_first_model_call(fake_provider)
    api = httpx2.post(
        f"{server.url}/api/v1/chat/", timeout=15, headers={"Authorization": f"Bearer {token}"},
        json={"conversation_id": conversation.pk, "message": "add buy bread", "stream": stream},
    )  # fmt: skip
    page.join(20)

    assert api.status_code == 409, api.text
    assert api.json()["error"]["code"] == "turn_in_progress"
    answered = outcome[0]
    if stream:
        assert answered.status_code == 200 and parse_sse(answered.text)[-1]["answer"]["reply"].startswith("Added buy milk")
    else:
        assert answered.status_code == 302  # the form post redirects to the conversation
    server.sync_back()
    _assert_one_whole_turn(user, conversation, "buy milk")
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_the_api_turn_runs_and_the_page_turn_in_the_same_conversation_gets_409(app_server, fake_provider, stream):
    user = _user_with_slow_model(fake_provider, "tab-and-script")
    conversation = Conversation.objects.create(owner=user, title="shared")
    token = make_token(user)
    session = _signed_in(user)
    server = app_server()
    browser = _browser(session, server)
    outcome: list[httpx2.Response] = []

    def api_turn() -> None:
        outcome.append(httpx2.post(
            f"{server.url}/api/v1/chat/", timeout=15, headers={"Authorization": f"Bearer {token}"},
            json={"conversation_id": conversation.pk, "message": "add buy milk", "stream": stream},
        ))  # fmt: skip

    api = threading.Thread(target=api_turn)
    api.start()
    _wait_for_the_first_model_call(fake_provider)
    page = _page_turn(browser, conversation.pk, "add buy bread", stream=True)  # the page's script
    api.join(20)

    assert page.status_code == 409, page.text
    assert page.json()["error"]["code"] == "turn_in_progress"
    assert outcome[0].status_code == 200, outcome[0].text
    server.sync_back()
    _assert_one_whole_turn(user, conversation, "buy milk")
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.parametrize("cut_after", ["tool_call", "text"], ids=["during-tool-call", "mid-text"])
def test_a_stream_cut_during_a_tool_call_or_mid_text_leaves_a_whole_turn_and_a_free_lease(app_server, fake_provider, cut_after):
    user = _user_with_slow_model(fake_provider, f"cut-{cut_after}")
    conversation = Conversation.objects.create(owner=user, title="cut")
    session = _signed_in(user)
    server = app_server()
    browser = _browser(session, server)
    with browser.stream(
        "POST", "/chat/send/", data={"conversation_id": conversation.pk, "message": "add buy milk"},
        headers={"Accept": "text/event-stream"},
    ) as response:  # fmt: skip
        assert response.status_code == 200
        seen = []
        for line in response.iter_lines():
            if line.startswith("event: "):
                seen.append(line.removeprefix("event: "))
                if seen[-1] == cut_after:
                    break
    # The connection is closed here: after the tool ran (the second model call still thinking),
    # or after the first words of the answer.
    assert cut_after in seen, seen
    event = _wait_for_the_turn(server)
    assert event.outcome == "success" and event.metadata["tools"] == ["add_task"]
    _assert_one_whole_turn(user, conversation, "buy milk")
    assert Message.objects.filter(conversation=conversation).last().content.startswith("Added buy milk")
    # The next message is accepted at once, from either session.
    again = _page_turn(browser, conversation.pk, "show my tasks", stream=True)
    assert again.status_code == 200, again.text
    server.stop()
    for bad in ("SynchronousOnlyOperation", "Exception ignored", "Traceback"):
        assert bad not in server.log(), server.log()
