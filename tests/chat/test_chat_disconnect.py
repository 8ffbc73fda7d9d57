"""A streamed turn whose client goes away still runs to the end: answer, usage and audit row are stored.

The app runs under uvicorn in a subprocess (tests/chat/live.py) so its log can be searched for
what the old code printed when it lost a turn: "Exception ignored in: <generator object
_turn_events>" … SynchronousOnlyOperation.
"""

from __future__ import annotations

import threading
import time

import httpx2
import pytest
from django.db import connections

from apps.audit.models import AuditEvent, UsageRecord
from apps.chat.models import Conversation, Message
from apps.keys.vault import provider_key_create
from apps.providers.models import ProviderConfig
from apps.providers.services import provider_preference_set
from apps.todos.models import Task
from tests.factories import make_token, make_user
from tests.fakes.provider_server import ScriptedToolCall

pytestmark = pytest.mark.django_db(transaction=True)

REQUEST_ID = "disconnect-test-0001"


def _wait_for_the_turn(server, *, timeout: float = 20) -> AuditEvent:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.sync_back()
        event = AuditEvent.objects.filter(action="chat.turn").first()
        if event is not None:
            return event
        time.sleep(0.2)
    raise AssertionError(f"the turn was never stored; server log:\n{server.log()}")


def test_a_streamed_turn_cut_after_its_first_event_is_finished_and_stored(app_server, fake_provider):
    user = make_user("leaver")
    ProviderConfig.objects.filter(name="openai").update(base_url=fake_provider.openai_base_url)
    provider_key_create(user=user, provider_name="openai", key="sk-disconnect-test-01")
    provider_preference_set(user=user, provider_name="openai")
    # The model thinks for a while, asks for a tool, then answers: the client is long gone by then.
    fake_provider.fault("openai", "slow", delay=1.0, tool_calls=(ScriptedToolCall("add_task", {"title": "buy milk"}),), usage=(20, 9))
    fake_provider.fault("openai", "slow", delay=0.3, text="Added buy milk.", usage=(30, 5))
    headers = {"Authorization": f"Bearer {make_token(user)}", "X-Request-ID": REQUEST_ID}
    server = app_server()

    with httpx2.stream(
        "POST", f"{server.url}/api/v1/chat/", json={"message": "add buy milk", "stream": True}, headers=headers, timeout=15
    ) as response:
        assert response.status_code == 200
        first = next(line for line in response.iter_lines() if line.startswith("event: "))
        assert first == "event: conversation"
    # The connection is closed here, during the first model call.
    assert not fake_provider.requests_to("openai")[1:], "the turn had already finished: the test proves nothing"

    event = _wait_for_the_turn(server)

    conversation = Conversation.objects.get(owner=user)
    rows = list(Message.objects.filter(conversation=conversation).order_by("id"))
    assert [r.role for r in rows] == ["user", "assistant", "tool", "assistant"]
    assert rows[-1].content == "Added buy milk."  # what the user sees on reload
    assert list(Task.objects.filter(owner=user).values_list("title", flat=True)) == ["buy milk"]
    assert UsageRecord.objects.filter(user=user).count() == 2
    assert event.outcome == "success" and event.metadata["model_calls"] == 2
    assert event.metadata["tools"] == ["add_task"]
    assert event.metadata["input_tokens"] == 20 + 30 and event.metadata["output_tokens"] == 9 + 5
    # The request context survives the streaming path, also after the client left.
    assert event.request_id == REQUEST_ID and event.client_ip == "127.0.0.1"
    tool_audit = AuditEvent.objects.get(action="mcp.tool_call")
    assert tool_audit.request_id == REQUEST_ID
    conversation.refresh_from_db()
    assert conversation.turn_lease_until is None  # the next message is accepted at once

    server.stop()
    log = server.log()
    for bad in ("SynchronousOnlyOperation", "Exception ignored", "Traceback"):
        assert bad not in log, log


def test_a_turn_whose_client_leaves_before_reading_anything_is_still_stored(app_server, fake_provider):
    """The body is never pulled at all: Django's close() of the response runs the turn."""
    user = make_user("impatient")
    headers = {"Authorization": f"Bearer {make_token(user)}", "X-Request-ID": REQUEST_ID}
    server = app_server()

    with httpx2.stream(
        "POST", f"{server.url}/api/v1/chat/", json={"message": "add buy bread", "stream": True}, headers=headers, timeout=15
    ) as response:
        assert response.status_code == 200  # headers only, then gone

    event = _wait_for_the_turn(server)
    assert event.outcome == "success" and event.metadata["model_calls"] == 2
    assert list(Task.objects.filter(owner=user).values_list("title", flat=True)) == ["buy bread"]
    roles = list(Message.objects.filter(conversation__owner=user).order_by("id").values_list("role", flat=True))
    assert roles == ["user", "assistant", "tool", "assistant"]
    server.stop()
    log = server.log()
    for bad in ("SynchronousOnlyOperation", "Exception ignored", "Traceback"):
        assert bad not in log, log


def test_a_plain_json_turn_whose_client_gives_up_is_stored_too(app_server, fake_provider):
    user = make_user("giver-upper")
    ProviderConfig.objects.filter(name="openai").update(base_url=fake_provider.openai_base_url)
    provider_key_create(user=user, provider_name="openai", key="sk-disconnect-test-02")
    provider_preference_set(user=user, provider_name="openai")
    fake_provider.fault("openai", "slow", delay=1.0, tool_calls=(ScriptedToolCall("add_task", {"title": "buy milk"}),))
    fake_provider.reply_text("openai", "Added buy milk.")
    headers = {"Authorization": f"Bearer {make_token(user)}", "X-Request-ID": REQUEST_ID}
    server = app_server()

    with pytest.raises(httpx2.ReadTimeout):
        httpx2.post(f"{server.url}/api/v1/chat/", json={"message": "add buy milk"}, headers=headers, timeout=0.4)

    event = _wait_for_the_turn(server)
    assert event.outcome == "success" and event.metadata["model_calls"] == 2 and event.request_id == REQUEST_ID
    roles = list(Message.objects.filter(conversation__owner=user).order_by("id").values_list("role", flat=True))
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert list(Task.objects.filter(owner=user).values_list("title", flat=True)) == ["buy milk"]
    server.stop()
    log = server.log()
    for bad in ("SynchronousOnlyOperation", "Exception ignored", "Traceback"):
        assert bad not in log, log


def test_a_plain_turn_cancelled_while_it_waits_for_mcp_still_runs_to_the_end(transactional_db, monkeypatch):
    """Django cancels a request whose client left, and asgiref passes that on to the async work
    the view's thread waits for: here the in-process MCP client calling a tool. The turn
    must go on without its client (as a streamed one does), not stop with a question unanswered."""
    import asyncio

    from asgiref.sync import sync_to_async

    from apps.chat import services
    from apps.mcp_tools import client

    user = make_user("cancelled")
    listing, release, stored = threading.Event(), threading.Event(), threading.Event()
    real_call, real_save = client.amcp_tool_call, services._save_turn

    async def slow_call(**kwargs):
        listing.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
        return await real_call(**kwargs)

    def save_and_tell(**kwargs):
        try:
            return real_save(**kwargs)
        finally:
            stored.set()

    monkeypatch.setattr(client, "amcp_tool_call", slow_call)
    monkeypatch.setattr(services, "_save_turn", save_and_tell)

    async def scenario():
        loop = asyncio.get_running_loop()
        request = asyncio.ensure_future(sync_to_async(services.chat_turn)(user=user, conversation_id=None, text="add buy milk"))
        await loop.run_in_executor(None, listing.wait, 10)
        request.cancel()  # the client went away
        await asyncio.sleep(0.05)
        release.set()
        try:
            await request
        except asyncio.CancelledError:
            pass
        # The server's loop keeps running after a cancelled request; so does this one, until the turn is stored.
        assert await loop.run_in_executor(None, stored.wait, 10), "the turn was never stored"
        # asgiref's shared sync thread outlives the test: its connection must not (the test
        # database could not be dropped at the end of the run).
        await sync_to_async(connections.close_all)()

    asyncio.run(scenario())

    assert list(Task.objects.filter(owner=user).values_list("title", flat=True)) == ["buy milk"]
    roles = list(Message.objects.filter(conversation__owner=user).order_by("id").values_list("role", flat=True))
    assert roles == ["user", "assistant", "tool", "assistant"]
    event = AuditEvent.objects.get(action="chat.turn")
    assert event.metadata["tools"] == ["add_task"] and event.metadata["model_calls"] == 2
