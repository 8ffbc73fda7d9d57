"""Turns racing in one conversation: each answers its own message, or is refused with a 409 that changed nothing.

Real concurrency: the project's ASGI app under uvicorn in its own process (tests/chat/live.py),
eight HTTP turns sent at once into one conversation, on SQLite (a file, as the embedded default
runs) and on PostgreSQL.
"""

from __future__ import annotations

import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest

from apps.audit.models import AuditEvent
from apps.chat.models import Conversation, Message
from apps.todos.models import Task
from tests.factories import make_token, make_user
from tests.services import require_postgres

pytestmark = pytest.mark.django_db(transaction=True)

TURNS = 8


def _race(app_server, *, stream: bool) -> tuple:
    """Eight turns at once; a refused turn is sent again (as a client should) until it is answered."""
    user = make_user("racer")
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    conversation = Conversation.objects.create(owner=user, title="race")
    server = app_server()
    start = threading.Barrier(TURNS)

    def turn(i: int):
        payload = {"conversation_id": conversation.pk, "message": f"add task buy milk {i}", "stream": stream}
        refusals = []
        with httpx2.Client(timeout=30) as client:
            start.wait()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                response = client.post(f"{server.url}/api/v1/chat/", json=payload, headers=headers)
                if response.status_code != 409:
                    return i, response, refusals
                refusals.append(response.json())
                time.sleep(random.uniform(0.02, 0.1))
        raise AssertionError(f"turn {i} was refused for a minute")

    with ThreadPoolExecutor(TURNS) as pool:
        results = list(pool.map(turn, range(TURNS)))
    server.sync_back()
    return user, conversation, results, server


def _done_answer(response) -> dict:
    if response.headers["content-type"].startswith("application/json"):
        return response.json()
    from tests.chat.conftest import parse_sse

    return parse_sse(response.text)[-1]["answer"]


def _check(user, conversation, results, server) -> None:
    refusals = [body for _, _, refused in results for body in refused]
    assert refusals, "no turn overlapped another: the race did not happen"
    for body in refusals:
        assert body["error"]["code"] == "turn_in_progress", body
        assert body["error"]["extra"] == {"conversation_id": conversation.pk}
        assert "still answering another message" in body["error"]["message"]
    for i, response, _ in results:
        assert response.status_code == 200, (i, response.status_code, response.text)
        answer = _done_answer(response)
        # The answer is about this turn's own message, not a neighbour's.
        created = [c["result"]["title"] for c in answer["tool_calls"] if c["name"] == "add_task"]
        assert created == [f"buy milk {i}"], (i, answer)
        assert f"buy milk {i}" in answer["reply"] and not re.search(rf"buy milk (?!{i}\b)\d", answer["reply"]), answer

    # Each task exactly once; a refused attempt stored no message and created nothing.
    titles = sorted(Task.objects.filter(owner=user).values_list("title", flat=True))
    assert titles == [f"buy milk {i}" for i in range(TURNS)]
    # The stored transcript is whole turns, one after another: user, assistant (tool call), tool, assistant.
    rows = list(Message.objects.filter(conversation=conversation).order_by("id"))
    assert len(rows) == 4 * TURNS, [(r.role, r.content) for r in rows]
    for n in range(TURNS):
        turn = rows[4 * n : 4 * n + 4]
        assert [r.role for r in turn] == ["user", "assistant", "tool", "assistant"], [r.role for r in rows]
        number = turn[0].content.rsplit(" ", 1)[1]
        assert f"buy milk {number}" in turn[2].content and f"buy milk {number}" in turn[3].content
    assert AuditEvent.objects.filter(action="chat.turn", target_id=str(conversation.pk)).count() == TURNS
    conversation.refresh_from_db()
    assert conversation.turn_lease_until is None and conversation.turn_lease_id == ""  # every lease given back
    assert "Traceback" not in server.log(), server.log()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_concurrent_turns_in_one_conversation_each_answer_their_own_message(app_server, stream):
    _check(*_race(app_server, stream=stream))


@pytest.mark.postgres
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_concurrent_turns_in_one_conversation_on_postgresql(app_server, stream):
    require_postgres()
    _check(*_race(app_server, stream=stream))


@pytest.mark.postgres
def test_deletes_racing_on_one_conversation_delete_it_once():
    require_postgres()
    from apps.chat.services import conversation_delete
    from apps.core.errors import NotFound
    from tests.concurrency import held_uncommitted

    user = make_user("deleter")
    conversation = Conversation.objects.create(owner=user, title="doomed")
    with held_uncommitted(lambda: conversation_delete(user=user, conversation_id=conversation.pk)):
        with pytest.raises(NotFound):
            conversation_delete(user=user, conversation_id=conversation.pk)
    assert AuditEvent.objects.filter(action="conversation.delete", target_id=str(conversation.pk)).count() == 1
