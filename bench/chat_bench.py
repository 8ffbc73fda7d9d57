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
/proc at the end; CPU ms per request is the server process's user + system time over its
rounds (/proc), divided by the requests.

Before/after in the same run: ``--tree NAME=DIR[:VAR=value,...]`` (repeatable) adds another
project tree (e.g. ``git archive <commit> | tar -x -C /tmp/before``) as target "chat turn
NAME", with extra environment for its process only; each tree gets its own database (a fresh
``<url>_<n>`` on PostgreSQL) and cache key prefix, and joins the interleaved rounds:

    python bench/chat_bench.py --no-litellm --concurrency 16 --tree before=/tmp/before
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
from mcp_ab import cpu_seconds, psql  # noqa: E402
from mcp_bench import free_port  # noqa: E402

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


def start_project(tree: Path, env: dict[str, str], upstream_url: str, port: int) -> tuple[subprocess.Popen, str]:
    """Migrate, create the demo user and its provider, start uvicorn; returns (process, token)."""

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=tree, env=env, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    run("migrate", "--noinput", "-v", "0")
    token = run("createdemo")
    run("shell", "-c", SETUP.format(base_url=upstream_url))
    env["MCP_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        cwd=tree, env=env,
    )
    return process, token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200, help="requests per target per round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--database-url", default="", help="default: a new SQLite file in a temporary directory")
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=DIR[:VAR=value,...]",
                        help="another project tree to measure in the same rounds (before/after)")
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
    processes: dict[str, subprocess.Popen] = {}
    processes["upstream"] = subprocess.Popen([sys.executable, str(ROOT / "bench" / "fake_upstream.py"), str(upstream_port), str(record)])
    processes["chat"], token = start_project(ROOT, env, upstream_url, project_port)
    projects = {"chat turn": ("chat", project_port, token)}
    for index, spec in enumerate(args.tree, start=1):
        name, _, rest = spec.partition("=")
        directory, _, extra = rest.partition(":")
        tree_env = {**env, **dict(item.split("=", 1) for item in extra.split(",") if item)}
        if args.database_url.startswith("postgres"):
            tree_env["DATABASE_URL"] = f"{args.database_url}_{index}"
            db_name = tree_env["DATABASE_URL"].rsplit("/", 1)[1]
            psql(f'DROP DATABASE IF EXISTS "{db_name}"', args.database_url)
            psql(f'CREATE DATABASE "{db_name}"', args.database_url)
        elif not args.database_url:
            tree_env["DATABASE_URL"] = f"sqlite:///{workdir}/bench_{index}.sqlite3"
        tree_env["CACHE_KEY_PREFIX"] = f"chat-bench-{index}-{os.urandom(4).hex()}"
        port = free_port()
        processes[f"tree {name}"], tree_token = start_project(Path(directory).resolve(), tree_env, upstream_url, port)
        projects[f"chat turn {name}"] = (f"tree {name}", port, tree_token)
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
        chat_body = b'{"message": "what is due today?"}'
        project_targets = {}
        for name, (process_name, port, project_token) in projects.items():
            wait_http(f"http://127.0.0.1:{port}/healthz", process=processes[process_name])
            chat_url = f"http://127.0.0.1:{port}/api/v1/chat/"
            chat_headers = {"Authorization": f"Bearer {project_token}", "Content-Type": "application/json"}
            first = httpx2.post(chat_url, content=chat_body, headers=chat_headers, timeout=60)
            assert first.status_code == 200 and first.json()["provider"] == "bench", first.text
            project_targets[name] = (chat_url, chat_headers, chat_body)
        upstream_body = record.read_bytes()
        targets = {"direct": (f"{upstream_url}/chat/completions", {"Content-Type": "application/json"}, upstream_body)}
        targets.update(project_targets)
        if not args.no_litellm:
            wait_http(f"http://127.0.0.1:{litellm_port}/health/liveliness", timeout=300, process=processes["litellm"])
            targets["LiteLLM"] = (
                f"http://127.0.0.1:{litellm_port}/v1/chat/completions",
                {"Content-Type": "application/json", "Authorization": f"Bearer {master_key}"},
                upstream_body,
            )
        order = [name for name in ("direct", "LiteLLM") if name in targets] + list(project_targets)
        process_of = {"LiteLLM": "litellm", **{name: spec[0] for name, spec in projects.items()}}
        results: dict[int, dict[str, list[dict]]] = {}
        for concurrency in args.concurrency:
            results[concurrency] = {name: [] for name in order}
            for _ in range(args.rounds):
                for name in order:
                    url, headers, body = targets[name]
                    pid = processes[process_of[name]].pid if name in process_of else None
                    cpu_before = cpu_seconds(pid) if pid else 0.0
                    result = asyncio.run(measure(url, headers, body, requests=args.requests, concurrency=concurrency))
                    result["cpu_ms"] = (cpu_seconds(pid) - cpu_before) * 1000 / args.requests if pid else 0.0
                    results[concurrency][name].append(result)
        rss = {name: rss_mib(processes[process_of[name]].pid) for name in order if name != "direct"}
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
    print("| c | target | req/s | p50 ms | p95 ms | p99 ms | added p50 ms | added p99 ms | p99/p50 | errors | CPU ms/req | RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
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
                f"{'—' if name == 'direct' else format(statistics.median(r['cpu_ms'] for r in rounds), '.1f')} | "
                f"{rss.get(name, 0):.0f} |"
            )
        for name in project_targets:
            turn = by_name[name]
            if "LiteLLM" in by_name:
                lite = by_name["LiteLLM"]
                p50_ratio = [
                    (t["p50"] - d["p50"]) / max(li["p50"] - d["p50"], 0.01) for t, li, d in zip(turn, lite, direct, strict=True)
                ]
                rps_ratio = [t["rps"] / li["rps"] for t, li in zip(turn, lite, strict=True)]
                print(f"# c={concurrency}: {name} added p50 / LiteLLM added p50 = {fmt_range(p50_ratio, 'x')}; "
                      f"throughput {name} / LiteLLM = {fmt_range(rps_ratio, 'x')}")
            if name != "chat turn":
                base = by_name["chat turn"]
                rps_ratio = [b["rps"] / t["rps"] for b, t in zip(base, turn, strict=True)]
                print(f"# c={concurrency}: throughput chat turn (this tree) / {name} = {fmt_range(rps_ratio, 'x')}")


if __name__ == "__main__":
    main()
