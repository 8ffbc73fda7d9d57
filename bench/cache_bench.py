"""The answer cache: requests saved at the provider on a repeated workload, and the cache policy's hit/miss latency.

Workload: 100 chat turns over 30 distinct read-only prompts (fresh conversations, the task list
unchanged), run with the answer cache off and on in interleaved rounds; requests are counted at
the fake provider server (tests/fakes). Latency: AnswerCachePolicy.before_attempt alone, on a
real chat request (system prompt, history, the tool specs), for a hit and for a miss.

Run: .venv/bin/python bench/cache_bench.py [--rounds 3] [--n 2000]
     REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/cache_bench.py   (L2 on Redis)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")

import django  # noqa: E402

django.setup()

PROMPTS = [f"what is on my list, question {i}?" for i in range(30)]
TURNS = [PROMPTS[i % 30] for i in range(100)]


def workload(user, fake, *, cache_on: bool) -> tuple[int, float]:
    """(requests at the fake, seconds) for the 100 turns."""
    from django.test import override_settings

    from apps.chat.services import chat_turn
    from apps.core.cache import two_level_cache

    two_level_cache.clear_local()
    two_level_cache.salt = uuid.uuid4().hex  # every round starts cold
    fake.reset()
    started = time.perf_counter()
    with override_settings(ANSWER_CACHE_ENABLED=cache_on):
        for text in TURNS:
            chat_turn(user=user, conversation_id=None, text=text)
    return fake.count("openai"), time.perf_counter() - started


def policy_latency(user, n: int) -> tuple[list[float], list[float]]:
    """Milliseconds per before_attempt for hits and for misses (each miss a new input)."""
    from dataclasses import replace

    from django.utils import timezone

    from apps.chat.services import SYSTEM_PROMPT, _tool_specs
    from apps.providers.gateway import CallContext
    from apps.providers.models import ProviderConfig
    from apps.providers.policies import AnswerCachePolicy, Attempt, RouteStep
    from apps.providers.types import ChatMessage, CompletionReply, CompletionRequest, Usage

    provider = ProviderConfig.objects.get(name="openai")
    step = RouteStep(provider=provider, model=provider.default_model, key_id=None)
    ctx = CallContext(route=[step], deadline=time.monotonic() + 3600, open_key=lambda s: "", user=user)
    system = ChatMessage(role="system", content=SYSTEM_PROMPT.format(today=timezone.localdate().isoformat()))
    tools = tuple(_tool_specs(user))

    def request(text: str) -> CompletionRequest:
        return CompletionRequest(model=step.model, messages=(system, ChatMessage(role="user", content=text)), tools=tools,
                                 max_tokens=1024, temperature=0.0)

    reply = CompletionReply(text="Nothing is due today.", tool_calls=(), usage=Usage(50, 8), finish_reason="stop",
                            model=step.model)
    policy = AnswerCachePolicy()
    hot = Attempt(step=step, number=1, request=request("what is due today?"), stream=False, context=ctx)
    policy.before_attempt(hot)
    policy.after_success(hot, reply)  # stored: every later lookup of this input is a hit
    hits, misses = [], []
    for i in range(n):
        attempt = replace(hot, notes={})
        started = time.perf_counter()
        verdict = policy.before_attempt(attempt)
        hits.append((time.perf_counter() - started) * 1000)
        assert verdict is not None and verdict.action == "reply"
        attempt = Attempt(step=step, number=1, request=request(f"new question {i} {uuid.uuid4().hex}"), stream=False,
                          context=ctx)
        started = time.perf_counter()
        verdict = policy.before_attempt(attempt)
        misses.append((time.perf_counter() - started) * 1000)
        assert verdict is None
    return hits, misses


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()

    from django.conf import settings
    from django.core.management import call_command

    from apps.keys.vault import provider_key_create
    from apps.providers.models import ProviderConfig
    from apps.providers.services import provider_preference_set
    from tests.fakes.provider_server import FakeProviderServer

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(f"bench-{uuid.uuid4().hex[:6]}")
    provider_key_create(user=user, provider_name="openai", key="sk-bench-0000000000000001")
    provider_preference_set(user=user, provider_name="openai")
    l2 = "Redis" if settings.REDIS_URL else "local memory"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"database {django.db.connection.vendor}; L2 {l2}")
    with FakeProviderServer() as fake:
        ProviderConfig.objects.filter(name="openai").update(base_url=fake.openai_base_url)
        off, on, off_s, on_s = [], [], [], []
        for round_number in range(args.rounds):  # interleaved: off, on, off, on, ...
            requests, seconds = workload(user, fake, cache_on=False)
            off.append(requests)
            off_s.append(seconds)
            requests, seconds = workload(user, fake, cache_on=True)
            on.append(requests)
            on_s.append(seconds)
            print(f"round {round_number + 1}: cache off {off[-1]} requests ({off_s[-1]:.2f} s), "
                  f"cache on {on[-1]} requests ({on_s[-1]:.2f} s)")
        saving = 1 - statistics.median(on) / statistics.median(off)
        print(f"workload (100 turns, 30 distinct prompts), medians of {args.rounds} rounds: "
              f"{statistics.median(off)} requests without the cache, {statistics.median(on)} with it: "
              f"{saving:.0%} fewer; {statistics.median(off_s):.2f} s vs {statistics.median(on_s):.2f} s")
        hits, misses = policy_latency(user, args.n)
    print(f"AnswerCachePolicy.before_attempt over {args.n} calls each: hit p50 {pct(hits, 0.5):.3f} ms, "
          f"p95 {pct(hits, 0.95):.3f} ms; miss p50 {pct(misses, 0.5):.3f} ms, p95 {pct(misses, 0.95):.3f} ms")


if __name__ == "__main__":
    main()
