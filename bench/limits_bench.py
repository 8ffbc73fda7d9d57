"""The limiter on Redis: latency of one check and of the quota reserve+reconcile pair, and exactness under
concurrency compared with the `limits` library's strategies.

Run: REDIS_URL=redis://127.0.0.1:6379/12 .venv/bin/python bench/limits_bench.py [--n 2000] [--rounds 5]

Latency: rounds interleave the operations (window check, reserve+reconcile, a bare PING for the
floor), each round n calls per operation; p50/p95 are per round, the table gives the medians of
the rounds. Exactness: 2 processes x 50 threads x 2 hits against 10 per minute (the count
admitted), and 2 processes x 20 threads hitting 10 per 2 s for ~5 s (the most admitted in any
2 s span, by the admission times).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("LIMITS_KEY_PREFIX", f"bench-{uuid.uuid4().hex[:6]}")

import django  # noqa: E402

django.setup()

from apps.limits import limiter  # noqa: E402


def pct(values, q):
    values = sorted(values)
    return values[min(int(q * len(values)), len(values) - 1)]


def latency(n: int, rounds: int) -> dict:
    from django_redis import get_redis_connection

    client = get_redis_connection("default")

    def check():
        limiter.window_hit("bench:check", limit=10**9, window_seconds=60)  # admitted (the log grows to n)

    def refused():
        limiter.window_hit("bench:full", limit=100, window_seconds=60)  # 100 admitted, then refused

    def reserve_reconcile():
        limiter.counter_reserve("bench:quota", limit=10**12, amount=5000, ttl=3600, rebuild=lambda: 0)
        limiter.counter_adjust("bench:quota", delta=-4000, ttl=3600)

    ops = {"redis PING (floor)": client.ping, "window check, admitted (1 script)": check,
           "window check, refused (1 script)": refused,
           "quota reserve + reconcile (2 scripts)": reserve_reconcile}
    for fn in ops.values():
        for _ in range(200):
            fn()
    results = {name: {"p50": [], "p95": []} for name in ops}
    for _ in range(rounds):
        for name, fn in ops.items():
            times = []
            for _ in range(n):
                t = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t) * 1000)
            results[name]["p50"].append(pct(times, 0.5))
            results[name]["p95"].append(pct(times, 0.95))
        limiter.clear_all()  # keep the check's window small (a log of every admitted call)
    return {name: (statistics.median(r["p50"]), statistics.median(r["p95"])) for name, r in results.items()}


# --- exactness ------------------------------------------------------------------------------


def _worker(kind: str, key: str, limit: int, window: int, threads: int, hits: int, spacing: float, start_at: float, out):
    import django as dj

    dj.setup()
    admitted: list[float] = []
    lock = threading.Lock()
    if kind in ("ours", "ours (client clock)"):
        def hit():
            d = limiter.window_hit(key, limit=limit, window_seconds=window)
            return d.allowed, (d.at_ms if kind == "ours" else time.time() * 1000)
    else:
        from limits import RateLimitItemPerSecond, storage, strategies

        store = storage.storage_from_string(os.environ["REDIS_URL"])
        strategy = {"moving": strategies.MovingWindowRateLimiter, "fixed": strategies.FixedWindowRateLimiter,
                    "sliding-counter": strategies.SlidingWindowCounterRateLimiter}[kind](store)
        item = RateLimitItemPerSecond(limit, window)

        def hit():
            return strategy.hit(item, key), time.time() * 1000

    def run():
        while time.time() < start_at:
            time.sleep(0.001)
        for _ in range(hits):
            ok, at = hit()
            if ok:
                with lock:
                    admitted.append(at)
            if spacing:
                time.sleep(spacing)

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(admitted)


def exactness(kind: str, limit: int, window: int, threads: int, hits: int, spacing: float) -> tuple[int, int]:
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    key = f"bench-exact:{kind}:{uuid.uuid4().hex[:6]}"
    start_at = time.time() + 1.0
    procs = [ctx.Process(target=_worker, args=(kind, key, limit, window, threads, hits, spacing, start_at, out))
             for _ in range(2)]
    for p in procs:
        p.start()
    admitted = sorted(out.get(timeout=120) + out.get(timeout=120))
    for p in procs:
        p.join()
    worst = max((sum(1 for t in admitted if s <= t < s + window * 1000) for s in admitted), default=0)
    return len(admitted), worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not limiter.shared():
        sys.exit("set REDIS_URL: this measures the limiter on Redis")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for name, (p50, p95) in latency(args.n, args.rounds).items():
        print(f"{name:42s} p50 {p50:.3f} ms  p95 {p95:.3f} ms")
    for kind in ("ours", "ours (client clock)", "moving", "sliding-counter", "fixed"):
        burst = exactness(kind, 10, 60, threads=50, hits=2, spacing=0)
        edge = exactness(kind, 10, 2, threads=20, hits=100, spacing=0.05)
        print(json.dumps({"strategy": kind, "200 hits vs 10/min admitted": burst[0],
                          "10 per 2 s for ~5 s: most in any 2 s span": edge[1], "admitted": edge[0]}))
    limiter.clear_all()


if __name__ == "__main__":
    main()
