"""A chat turn next to a LiteLLM proxy and a direct call, all in front of one instant fake upstream.

    python bench/chat_bench.py [--rounds 5] [--requests 200] [--concurrency 1 16] [--database-url URL]
    REDIS_URL=redis://127.0.0.1:6379/14 python bench/chat_bench.py --database-url postgres://...

Starts, one process each: the fake upstream (bench/fake_upstream.py), the project
(`uvicorn config.asgi:application`, DEBUG off, WARNING logs, a fresh SQLite file unless
--database-url) with a user whose provider points at the fake, and a LiteLLM proxy (installed
by this script into .bench-venv/litellm, never into the project's requirements; --no-litellm
skips it). Then, in interleaved rounds (direct, LiteLLM, chat turn, again and again: a slow
spell of a shared machine lands on all three), sends N requests from C concurrent keep-alive
connections to each:

- direct: the chat turn's own upstream request (recorded by the fake), straight to the fake;
- LiteLLM: the same request body, to the proxy's /v1/chat/completions;
- chat turn: POST /api/v1/chat/ {"message": ...} as the user: a new conversation per turn,
  user message, one model call, answer, usage and audit rows stored.

"added" = a target's p50 (or p99) minus the direct call's, per round; the table shows the
median over rounds and the range. Throughput is the median over rounds. RSS is read from
/proc at the end.
"""

from __future__ import annotations

import argparse
import base64
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mcp_bench import free_port, manage  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LITELLM_VERSION = "1.106.2"
VENV = ROOT / ".bench-venv"

SETUP = """
from django.contrib.auth import get_user_model
from apps.keys.vault import provider_key_create
from apps.providers.models import ProviderConfig
from apps.providers.services import provider_preference_set
ProviderConfig.objects.update_or_create(name="bench", defaults=dict(
    kind="openai_compatible", base_url="{base_url}", model_names=["test-model"], default_model="test-model",
    enabled=True, timeout_seconds=30))
user = get_user_model().objects.get(username="demo")
provider_key_create(user=user, provider_name="bench", key="sk-bench-0000000000000000")
provider_preference_set(user=user, provider_name="bench", model="test-model")
"""


def ensure_venv(name: str, requirement: str, executable: str) -> Path:
    """A virtualenv under .bench-venv/<name> with ``requirement`` (git-ignored; never the project's)."""
    venv = VENV / name
    exe = venv / "bin" / executable
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([venv / "bin" / "pip", "install", "-q", requirement], check=True)
    return exe


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, MiB."""
    total = 0
    pids = [pid]
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        pids += [int(child) for child in children]
    except FileNotFoundError:
        pass
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


def wait_http(url: str, timeout: float = 120, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({process.returncode})")
        try:
            httpx2.get(url, timeout=2)
            return
        except httpx2.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


async def measure(url: str, headers: dict[str, str], body: bytes, *, requests: int, concurrency: int) -> dict:
    latencies: list[float] = []
    remaining = requests
    errors = 0

    async def worker(client: httpx2.AsyncClient) -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            response = await client.post(url, content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                errors += 1

    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(timeout=60, limits=limits) as client:
        for _ in range(min(10, requests)):
            await client.post(url, content=body, headers=headers)
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000

    return {"rps": len(latencies) / elapsed, "p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "errors": errors}


def fmt_range(values: list[float], unit: str = "") -> str:
    return f"{statistics.median(values):.1f}{unit} ({min(values):.1f}–{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200, help="requests per target per round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--database-url", default="", help="default: a new SQLite file in a temporary directory")
    parser.add_argument("--no-litellm", action="store_true")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.development",
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": args.database_url or f"sqlite:///{workdir}/bench.sqlite3",
        # A throwaway master key for the benchmark's own database (never a real one).
        "KEY_ENCRYPTION_KEYS": "bench:" + base64.b64encode(os.urandom(32)).decode(),
    }
    upstream_port, project_port, litellm_port = free_port(), free_port(), free_port()
    record = workdir / "request.json"
    upstream_url = f"http://127.0.0.1:{upstream_port}/v1"
    manage(env, "migrate", "--noinput", "-v", "0")
    token = manage(env, "createdemo")
    manage(env, "shell", "-c", SETUP.format(base_url=upstream_url))

    processes: dict[str, subprocess.Popen] = {}
    processes["upstream"] = subprocess.Popen([sys.executable, str(ROOT / "bench" / "fake_upstream.py"), str(upstream_port), str(record)])
    env["MCP_PUBLIC_URL"] = f"http://127.0.0.1:{project_port}"
    processes["chat"] = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(project_port),
         "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env,
    )
    master_key = "sk-bench-" + os.urandom(16).hex()  # the proxy refuses to start without one
    if not args.no_litellm:
        litellm = ensure_venv("litellm", f"litellm[proxy]=={LITELLM_VERSION}", "litellm")
        config = workdir / "litellm.yaml"
        config.write_text(
            "model_list:\n  - model_name: test-model\n    litellm_params:\n      model: openai/test-model\n"
            f"      api_base: {upstream_url}\n      api_key: sk-bench-0000000000000000\n"
            "litellm_settings:\n  telemetry: false\n  set_verbose: false\n"
            f"general_settings:\n  master_key: {master_key}\n"
        )
        processes["litellm"] = subprocess.Popen(
            [str(litellm), "--config", str(config), "--port", str(litellm_port), "--num_workers", "1"],
            cwd=workdir, env={**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    try:
        wait_http(f"http://127.0.0.1:{upstream_port}/v1/models")
        wait_http(f"http://127.0.0.1:{project_port}/healthz", process=processes["chat"])
        chat_url = f"http://127.0.0.1:{project_port}/api/v1/chat/"
        chat_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        chat_body = b'{"message": "what is due today?"}'
        first = httpx2.post(chat_url, content=chat_body, headers=chat_headers, timeout=60)
        assert first.status_code == 200 and first.json()["provider"] == "bench", first.text
        upstream_body = record.read_bytes()
        targets = {
            "direct": (f"{upstream_url}/chat/completions", {"Content-Type": "application/json"}, upstream_body),
            "chat turn": (chat_url, chat_headers, chat_body),
        }
        if not args.no_litellm:
            wait_http(f"http://127.0.0.1:{litellm_port}/health/liveliness", timeout=300, process=processes["litellm"])
            targets["LiteLLM"] = (
                f"http://127.0.0.1:{litellm_port}/v1/chat/completions",
                {"Content-Type": "application/json", "Authorization": f"Bearer {master_key}"},
                upstream_body,
            )
        order = [name for name in ("direct", "LiteLLM", "chat turn") if name in targets]
        results: dict[int, dict[str, list[dict]]] = {}
        for concurrency in args.concurrency:
            results[concurrency] = {name: [] for name in order}
            for _ in range(args.rounds):
                for name in order:
                    url, headers, body = targets[name]
                    results[concurrency][name].append(
                        asyncio.run(measure(url, headers, body, requests=args.requests, concurrency=concurrency))
                    )
        rss = {name: rss_mib(processes["litellm" if name == "LiteLLM" else "chat"].pid) for name in order if name != "direct"}
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    database = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite file"
    cache = "Redis" if os.environ.get("REDIS_URL") else "local memory"
    print(f"# chat turn vs LiteLLM {LITELLM_VERSION} vs direct; {args.rounds} interleaved rounds x {args.requests} requests")
    print(f"# machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}; database: {database}; cache: {cache}; upstream body {len(upstream_body)} B")
    print("| c | target | req/s | p50 ms | p95 ms | p99 ms | added p50 ms | added p99 ms | p99/p50 | errors | RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for concurrency, by_name in results.items():
        direct = by_name["direct"]
        for name in order:
            rounds = by_name[name]
            added50 = [r["p50"] - d["p50"] for r, d in zip(rounds, direct, strict=True)]
            added99 = [r["p99"] - d["p99"] for r, d in zip(rounds, direct, strict=True)]
            print(
                f"| {concurrency} | {name} | {fmt_range([r['rps'] for r in rounds])} | "
                f"{statistics.median(r['p50'] for r in rounds):.1f} | {statistics.median(r['p95'] for r in rounds):.1f} | "
                f"{statistics.median(r['p99'] for r in rounds):.1f} | "
                f"{'—' if name == 'direct' else fmt_range(added50)} | {'—' if name == 'direct' else fmt_range(added99)} | "
                f"{statistics.median(r['p99'] / r['p50'] for r in rounds):.2f} | {sum(r['errors'] for r in rounds)} | "
                f"{rss.get(name, 0):.0f} |"
            )
        if "LiteLLM" in by_name:
            turn, lite = by_name["chat turn"], by_name["LiteLLM"]
            p50_ratio = [
                (t["p50"] - d["p50"]) / max(li["p50"] - d["p50"], 0.01) for t, li, d in zip(turn, lite, direct, strict=True)
            ]
            rps_ratio = [t["rps"] / li["rps"] for t, li in zip(turn, lite, strict=True)]
            print(f"# c={concurrency}: chat turn added p50 / LiteLLM added p50 = {fmt_range(p50_ratio, 'x')}; "
                  f"throughput chat / LiteLLM = {fmt_range(rps_ratio, 'x')}")


if __name__ == "__main__":
    main()
