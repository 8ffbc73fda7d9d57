"""tools/call throughput and latency over HTTP: the project's /mcp next to a bare MCPServer.

    python bench/mcp_bench.py [--requests 2000] [--concurrency 1 8] [--tool get_task] [--django-mcp-server] [--floor]

Starts, as subprocesses, the project (`uvicorn config.asgi:application`, production-like:
DEBUG off, WARNING logs, a fresh SQLite file unless --database-url is given) and a bare
MCPServer, one process each: by default bench/mcp_bare_orm.py (get_task doing the project's
scoped read and audit insert, nothing else), or with --baseline echo bench/mcp_bare.py (one
trivial tool, no auth, no database). --django-mcp-server adds django-mcp-server 0.5.7 (mcp
1.x, its own virtualenv under .bench-venv, made by bench/djmcp/run.py) doing the same work;
--floor a raw ASGI app with a canned answer (bench/mcp_floor.py), whose p50 is what uvicorn,
the loopback and this client cost every server alike. Then sends JSON-RPC `tools/call` POSTs
(stateless, JSON responses, protocol 2025-11-25) from N concurrent keep-alive connections and
reports requests/s, p50 and p95 for each. The project's
calls go through everything a real call does: token verification, registry check, argument
validation, the service, and the audit row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
PROTOCOL = "2025-11-25"


_PORT_BASE = 0


def free_port() -> int:
    """The next port from --port-base (a fixed range shared machines can agree on), else any free one."""
    global _PORT_BASE
    if _PORT_BASE:
        _PORT_BASE += 1
        return _PORT_BASE - 1
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def start_uvicorn(app: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT,
        env=env,
    )


def wait_until_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx2.post(url, json={}, timeout=1)
            return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def payload(tool: str, arguments: dict) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    ).encode()


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
            result = response.json().get("result", {}) if response.status_code == 200 else {}
            if response.status_code != 200 or result.get("isError"):
                errors += 1

    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(timeout=30, limits=limits) as client:
        for _ in range(20):  # warm-up: connections, thread pool, caches
            await client.post(url, content=body, headers=headers)
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "latencies": latencies,
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "errors": errors,
    }


def combine(results: list[dict]) -> dict:
    """Rounds of one server as one row: median req/s, percentiles over every request."""
    latencies = sorted(latency for result in results for latency in result["latencies"])
    return {
        "rps": statistics.median(result["rps"] for result in results),
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "errors": sum(result["errors"] for result in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="tools/call requests per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternate project and bare this many times per concurrency (noise)"
    )
    parser.add_argument("--tool", default="get_task", choices=["get_task", "list_tasks", "add_task"])
    parser.add_argument("--database-url", default="", help="default: a new SQLite file in a temporary directory")
    parser.add_argument(
        "--baseline",
        choices=["orm", "echo"],
        default="orm",
        help="orm: a bare MCPServer doing get_task's database work (bench/mcp_bare_orm.py); echo: a trivial tool",
    )
    parser.add_argument(
        "--django-mcp-server",
        action="store_true",
        help="also measure django-mcp-server (installed by bench/djmcp into .bench-venv; mcp 1.x) doing the same work",
    )
    parser.add_argument(
        "--no-result-cache",
        action="store_true",
        help="the project reads the task on every call too (TOOL_RESULT_CACHE_SECONDS=0): exactly the bare server's work",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure bench/mcp_floor.py (a canned answer, no work): what HTTP and this client cost every server",
    )
    parser.add_argument(
        "--port-base", type=int, default=int(os.environ.get("BENCH_PORT_BASE", "0")),
        help="use this port and the next ones for the servers (default: any free port; env BENCH_PORT_BASE)",
    )
    args = parser.parse_args()
    global _PORT_BASE
    _PORT_BASE = args.port_base
    if args.tool != "get_task":
        args.baseline = "echo"

    workdir = tempfile.mkdtemp(prefix="mcp-bench-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.development",
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": args.database_url or f"sqlite:///{workdir}/bench.sqlite3",
        "DJMCP_DATABASE": f"{workdir}/djmcp.sqlite3",  # removed with the directory at the end
    }
    if args.django_mcp_server and args.database_url.startswith("postgres"):
        # django-mcp-server on the same PostgreSQL server, in a fresh database of its own.
        from mcp_ab import psql

        env["DJMCP_DATABASE_URL"] = f"{args.database_url}_djmcp"
        djmcp_db = env["DJMCP_DATABASE_URL"].rsplit("/", 1)[1]
        psql(f'DROP DATABASE IF EXISTS "{djmcp_db}"', args.database_url)
        psql(f'CREATE DATABASE "{djmcp_db}"', args.database_url)
    if args.no_result_cache:
        env["TOOL_RESULT_CACHE_SECONDS"] = "0"
    manage(env, "migrate", "--noinput", "-v", "0")
    token = manage(env, "createdemo")
    project_port, bare_port = free_port(), free_port()
    env["MCP_PUBLIC_URL"] = f"http://127.0.0.1:{project_port}"
    processes = [start_uvicorn("config.asgi:application", project_port, env)]
    if args.baseline == "echo":
        processes.append(start_uvicorn("bench.mcp_bare:app", bare_port, env))
    djmcp_url = ""
    if args.django_mcp_server:
        from djmcp.run import start as start_djmcp

        djmcp_port = free_port()
        processes.append(start_djmcp(djmcp_port, env))
        djmcp_url = f"http://127.0.0.1:{djmcp_port}/mcp"
    try:
        project_url, bare_url = f"http://127.0.0.1:{project_port}/mcp", f"http://127.0.0.1:{bare_port}/mcp"
        wait_until_up(project_url)
        if args.baseline == "echo":
            wait_until_up(bare_url)
        common = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        common["Mcp-Protocol-Version"] = PROTOCOL
        project_headers = {**common, "Authorization": f"Bearer {token}"}
        created = httpx2.post(
            project_url, content=payload("add_task", {"title": "benchmark task"}), headers=project_headers, timeout=10
        ).json()
        task_id = created["result"]["structuredContent"]["id"]
        if args.baseline == "orm":  # started now: it loads the demo user once
            processes.append(start_uvicorn("bench.mcp_bare_orm:app", bare_port, env))
            wait_until_up(bare_url)
        arguments = {
            "get_task": {"task_id": task_id},
            "list_tasks": {"limit": 20},
            "add_task": {"title": "benchmark task"},
        }[args.tool]
        bare_body = (
            payload("get_task", {"task_id": task_id}) if args.baseline == "orm" else payload("echo", {"text": "hi"})
        )
        targets = {
            f"project /mcp ({args.tool})": (project_url, project_headers, payload(args.tool, arguments)),
            f"bare MCPServer ({'same ORM work' if args.baseline == 'orm' else 'echo'})": (bare_url, common, bare_body),
        }
        if djmcp_url:
            from djmcp.run import prepare as prepare_djmcp

            wait_until_up(djmcp_url)
            djmcp_task = prepare_djmcp(env)
            djmcp_headers = {**common, "Mcp-Protocol-Version": "2025-06-18"}
            targets["django-mcp-server 0.5.7 (same work)"] = (
                djmcp_url, djmcp_headers, payload("get_task", {"task_id": djmcp_task})
            )
        floor_name = "floor (canned answer, no work)"
        if args.floor:
            floor_port = free_port()
            processes.append(start_uvicorn("bench.mcp_floor:app", floor_port, env))
            floor_url = f"http://127.0.0.1:{floor_port}/mcp"
            wait_until_up(floor_url)
            targets[floor_name] = (floor_url, common, bare_body)
        names = list(targets)
        rows = []
        per_round = max(args.requests // args.rounds, 50)
        for concurrency in args.concurrency:
            # Alternating short rounds: a slow spell of a shared machine hits every server alike.
            results: dict[str, list[dict]] = {name: [] for name in names}
            for _ in range(args.rounds):
                for name in names:
                    url, headers, body = targets[name]
                    results[name].append(
                        asyncio.run(measure(url, headers, body, requests=per_round, concurrency=concurrency))
                    )
            rows.append((concurrency, results))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"# tools/call over HTTP ({PROTOCOL}, stateless, JSON), {args.requests} requests per row "
        f"in {args.rounds} alternating rounds (req/s: median of the rounds)"
    )
    print(
        f"# machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    database = "given URL" if args.database_url else "SQLite file"
    cache = "Redis" if os.environ.get("REDIS_URL") else "local memory"
    result_cache = "off (reads every call)" if args.no_result_cache else "on (get_task answered from the per-user cache)"
    print(f"# project tool: {args.tool}; database: {database}; cache: {cache}; tool result cache: {result_cache}")
    print("| concurrency | server | req/s | p50 ms | p95 ms | errors |")
    print("|---|---|---|---|---|---|")
    project = names[0]
    for concurrency, results in rows:
        for name in names:
            result = combine(results[name])
            print(
                f"| {concurrency} | {name} | {result['rps']:.0f} | {result['p50_ms']:.1f} | "
                f"{result['p95_ms']:.1f} | {result['errors']} |"
            )
        for other in names[1:]:
            if other == floor_name:
                continue
            ratios = sorted(
                p["rps"] / o["rps"] for p, o in zip(results[project], results[other], strict=True)
            )
            spread = f"rounds {ratios[0]:.0%}–{ratios[-1]:.0%}"
            print(f"| {concurrency} | **project / {other.split(' (')[0]}** | **{statistics.median(ratios):.0%}** | {spread} | | |")
        if floor_name in results:
            floor = combine(results[floor_name])["p50_ms"]
            for name in names:
                if name != floor_name:
                    above = combine(results[name])["p50_ms"] - floor
                    print(f"| {concurrency} | {name.split(' (')[0]}: p50 above the floor | | {above:.2f} ms | | |")


if __name__ == "__main__":
    main()
