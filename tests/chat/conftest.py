"""Fixtures for chat tests: users with keys for providers pointed at the fake server."""

from __future__ import annotations

import json

import pytest

from apps.keys.vault import provider_key_create
from apps.providers.services import provider_preference_set

OPENAI_KEY = "sk-openai-chat-test-0001"
ANTHROPIC_KEY = "sk-ant-chat-test-0002"


@pytest.fixture
def keyed_user(user_a, providers_at_fake):
    """user_a with working keys for openai and anthropic; openai chosen."""
    provider_key_create(user=user_a, provider_name="openai", key=OPENAI_KEY)
    provider_key_create(user=user_a, provider_name="anthropic", key=ANTHROPIC_KEY)
    provider_preference_set(user=user_a, provider_name="openai")
    return user_a


def use(user, provider: str) -> None:
    provider_preference_set(user=user, provider_name=provider)


def post_chat(client, message: str, *, conversation_id=None, stream=False) -> dict:
    """POST /api/v1/chat/ and return the answer (for stream=True, the SSE `done` event's answer)."""
    payload = {"message": message, "stream": stream}
    if conversation_id is not None:
        payload["conversation_id"] = conversation_id
    response = client.post("/api/v1/chat/", payload, format="json")
    assert response.status_code == 200, response.content
    if not stream:
        return response.json()
    assert response["Content-Type"].startswith("text/event-stream")
    events = parse_sse(b"".join(response.streaming_content).decode())
    assert events[0]["type"] == "conversation" and events[-1]["type"] == "done"
    answer = events[-1]["answer"]
    answer["_events"] = events
    return answer


def parse_sse(text: str) -> list[dict]:
    events = []
    for block in text.strip().split("\n\n"):
        data = [line[len("data: ") :] for line in block.splitlines() if line.startswith("data: ")]
        if data:
            events.append(json.loads("\n".join(data)))
    return events


@pytest.fixture
def app_server(transactional_db, tmp_path):
    """Start the app in a subprocess on the data made so far: ``server = app_server()``; stopped afterwards."""
    from tests.chat.live import AppServer

    servers: list[AppServer] = []

    def start(**extra_env: str) -> AppServer:
        server = AppServer(tmp_path / f"server{len(servers)}", extra_env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
