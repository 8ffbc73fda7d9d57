"""Under the real ASGI server, chat events leave as they happen (Django buffers sync iterators whole)."""

from __future__ import annotations

import time

import httpx2
import pytest

from apps.keys.vault import provider_key_create
from apps.providers.models import ProviderConfig
from apps.providers.services import provider_preference_set
from tests.factories import make_token, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_chat_events_are_streamed_not_buffered(live_url, fake_provider):
    user = make_user("streamer")
    ProviderConfig.objects.filter(name="openai").update(base_url=fake_provider.openai_base_url)
    provider_key_create(user=user, provider_name="openai", key="sk-streaming-test-01")
    provider_preference_set(user=user, provider_name="openai")
    fake_provider.fault("openai", "slow", delay=1.0, text="Hello there.")  # the model takes a second, then answers
    headers = {"Authorization": f"Bearer {make_token(user)}"}

    arrivals: list[tuple[str, float]] = []
    with httpx2.stream(
        "POST", f"{live_url}/api/v1/chat/", json={"message": "hi", "stream": True}, headers=headers, timeout=15
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                arrivals.append((line.removeprefix("event: "), time.monotonic()))

    kinds = [kind for kind, _ in arrivals]
    assert kinds[0] == "conversation" and kinds[-1] == "done" and "text" in kinds
    # The conversation event is sent before the model call; buffered, it would arrive with the rest.
    assert arrivals[-1][1] - arrivals[0][1] >= 0.8, arrivals
