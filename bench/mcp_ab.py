"""Before/after for /mcp: several project trees and the same-work bare server, in interleaved rounds.

    git archive <before-commit> | tar -x -C /tmp/before            # a tree of the commit to compare
    python bench/mcp_ab.py --requests 300 --rounds 5 before=/tmp/before after=.
    python bench/mcp_ab.py after=. threads2=.:MCP_DATABASE_THREADS=2   # the same tree, other settings

Each ``name=dir[:VAR=value,...]`` is a project tree (its own uvicorn process, a fresh SQLite file
or, with --database-url, a fresh PostgreSQL database ``<url>_<n>``, its own cache key prefix)
with extra environment for that process only. The bare server (bench/mcp_bare_orm.py) runs from
the first tree. Rounds alternate between every server; each row gives req/s (median, range),
p50, CPU time per call (the server process's user + system time over the round, from /proc) and
the median ratio to the bare server. Ports: --port-base and the next ones, or any free port.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mcp_bench  # noqa: E402
from mcp_bench import PROTOCOL, measure, payload, wait_until_up  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def psql(sql: str, url: str) -> None:
    admin = url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin, "-qc", sql], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+", help="name=dir[:VAR=value,...]")
    parser.add_argument("--requests", type=int, default=300, help="calls per server, round and concurrency")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--database-url", default="", help="PostgreSQL base URL; default: SQLite files")
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("BENCH_PORT_BASE", "0")))
    args = parser.parse_args()
    mcp_bench._PORT_BASE = args.port_base

    common = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
              "Mcp-Protocol-Version": PROTOCOL}
    processes: list[subprocess.Popen] = []
    targets: dict[str, tuple[str, dict, bytes, int]] = {}
    workdir = tempfile.mkdtemp(prefix="mcp-ab-")
    try:
        for index, spec in enumerate(args.trees):
            name, _, location = spec.partition("=")
            tree, _, pairs = location.partition(":")
            tree = str(Path(tree).resolve())
            extra = dict(pair.split("=", 1) for pair in pairs.split(",") if pair)
            port = mcp_bench.free_port()
            database = f"{args.database_url}_{index}" if args.database_url else f"sqlite:///{workdir}/{index}.sqlite3"
            if args.database_url:
                db_name = database.rsplit("/", 1)[1]
                psql(f'DROP DATABASE IF EXISTS "{db_name}"', database)
                psql(f'CREATE DATABASE "{db_name}"', database)
            env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.development", "DJANGO_DEBUG": "false",
                   "LOG_LEVEL": "WARNING", "DATABASE_URL": database, "MCP_PUBLIC_URL": f"http://127.0.0.1:{port}",
                   "CACHE_KEY_PREFIX": f"mcp-ab-{index}", **extra}
            subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=tree, env=env, check=True)
            token = subprocess.run([sys.executable, "manage.py", "createdemo"], cwd=tree, env=env, capture_output=True,
                                   text=True, check=True).stdout.strip().splitlines()[-1]
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port), "--log-level",
                 "warning", "--no-access-log"], cwd=tree, env=env))
            url = f"http://127.0.0.1:{port}/mcp"
            wait_until_up(url, 90)
            headers = {**common, "Authorization": f"Bearer {token}"}
            created = httpx2.post(url, content=payload("add_task", {"title": "benchmark task"}), headers=headers, timeout=10)
            task_id = created.json()["result"]["structuredContent"]["id"]
            targets[name] = (url, headers, payload("get_task", {"task_id": task_id}), processes[-1].pid)
            if index == 0:  # the same-work bare server, on the first tree's database and user
                bare_port = mcp_bench.free_port()
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "bench.mcp_bare_orm:app", "--port", str(bare_port), "--log-level",
                     "warning", "--no-access-log"], cwd=tree, env=env))
                bare_url = f"http://127.0.0.1:{bare_port}/mcp"
                wait_until_up(bare_url, 90)
                targets["bare"] = (bare_url, common, payload("get_task", {"task_id": task_id}), processes[-1].pid)
        for concurrency in args.concurrency:
            results: dict[str, list[dict]] = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, (url, headers, body, pid) in targets.items():
                    before = cpu_seconds(pid)
                    result = asyncio.run(measure(url, headers, body, requests=args.requests, concurrency=concurrency))
                    result["cpu_ms"] = (cpu_seconds(pid) - before) * 1000 / (args.requests + 20)  # + the warm-up calls
                    results[name].append(result)
            print(f"# c={concurrency}, {args.rounds} rounds x {args.requests} calls, load {os.getloadavg()[0]:.1f}")
            for name, rounds in results.items():
                rps = [r["rps"] for r in rounds]
                line = (f"c={concurrency} {name:12s} req/s {statistics.median(rps):5.0f} ({min(rps):.0f}-{max(rps):.0f}) "
                        f"p50 {statistics.median(r['p50_ms'] for r in rounds):6.2f} ms "
                        f"cpu/call {statistics.median(r['cpu_ms'] for r in rounds):.2f} ms "
                        f"errors {sum(r['errors'] for r in rounds)}")
                if name != "bare":
                    ratios = sorted(r["rps"] / b["rps"] for r, b in zip(rounds, results["bare"], strict=True))
                    line += f"  / bare {statistics.median(ratios):.0%} ({ratios[0]:.0%}-{ratios[-1]:.0%})"
                print(line, flush=True)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)
        if args.database_url:
            for index in range(len(args.trees)):
                db_name = f"{args.database_url}_{index}".rsplit("/", 1)[1]
                subprocess.run(["psql", args.database_url.rsplit("/", 1)[0] + "/postgres", "-qc",
                                f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'], capture_output=True)
        subprocess.run(["rm", "-rf", workdir], check=False)


if __name__ == "__main__":
    main()
