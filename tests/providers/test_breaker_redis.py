"""The circuit breaker is shared by every process through Redis (real Redis; skipped without it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from django.test import override_settings

from apps.providers import state
from tests.providers.gateway_helpers import context, route, run
from tests.services import require_redis

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]
# Long enough that a child process slow to start on a loaded machine still finds the breaker
# open; the tests end the cool-down themselves (end_cool_down) instead of sleeping through it.
COOLDOWN = 60.0


@pytest.fixture
def shared_prefix():
    client = require_redis()
    prefix = f"h-breaker-{uuid.uuid4().hex[:8]}"
    with override_settings(
        PROVIDER_STATE_PREFIX=prefix,
        PROVIDER_BREAKER_FAILURE_THRESHOLD=2,
        PROVIDER_BREAKER_COOLDOWN_SECONDS=COOLDOWN,
        PROVIDER_MAX_RETRIES=0,
    ):
        yield prefix
    for key in client.scan_iter(match=f"{prefix}:*"):
        client.delete(key)


def end_cool_down(provider: str = "openai") -> None:
    """Let the breaker's cool-down run out now, as if COOLDOWN seconds had passed."""
    assert require_redis().hset(f"{state._prefix()}breaker:{provider}", "until", "0") == 0  # the field existed


def other_process(fake, prefix: str) -> dict:
    env = {
        **os.environ,
        "PROVIDER_STATE_PREFIX": prefix,
        "PROVIDER_BREAKER_FAILURE_THRESHOLD": "2",
        "PROVIDER_BREAKER_COOLDOWN_SECONDS": str(COOLDOWN),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.providers.breaker_child", fake.url],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_breaker_opened_here_is_open_in_another_process_until_one_probe_closes_it(fake_provider, shared_prefix):
    fake_provider.auto = False  # every request fails
    for _ in range(2):
        run(context(route(fake_provider, "openai", "offline")))
    assert fake_provider.count("openai") == 2

    seen = other_process(fake_provider, shared_prefix)

    assert fake_provider.count("openai") == 2  # the other process sent nothing
    assert seen["records"][0]["outcome"] == "skipped" and "in a row" in seen["records"][0]["reason"]
    assert seen["records"][-1]["provider"] == "offline" and seen["reply"]

    end_cool_down()
    fake_provider.auto = True
    probed = other_process(fake_provider, shared_prefix)

    assert fake_provider.count("openai") == 3  # exactly one probe went through
    assert probed["records"][0]["outcome"] == "success" and probed["events"] == ["provider.breaker_closed"]
    assert state.breaker_op("openai", "peek").decision == state.CLOSED  # closed for this process too
    run(context(route(fake_provider, "openai", "offline")))
    assert fake_provider.count("openai") == 4


def test_after_the_cool_down_only_one_caller_of_many_gets_the_probe(shared_prefix):
    for _ in range(2):
        state.breaker_op("openai", "failure")
    end_cool_down()
    decisions: list[str] = []
    barrier = threading.Barrier(16)

    def ask():
        barrier.wait()
        decisions.append(state.breaker_op("openai", "allow").decision)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(decisions) == ["deny"] * 15 + ["probe"]
