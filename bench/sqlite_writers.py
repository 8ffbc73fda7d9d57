"""Concurrent writers on the embedded default: REST task writes, chat turns and MCP tool calls against SQLite.

    python bench/sqlite_writers.py [--clients 24] [--seconds 30] [--port 8600] [--worker] [--tree DIR]

Starts the app as `make run` does (development settings, a fresh SQLite file, local-memory
cache, offline provider, eager Celery; --worker adds `make run`'s Celery worker with beat on
the filesystem broker, a second process writing the same file), creates one user per client,
then runs C clients for S seconds, each picking at random: a REST create / update / complete /
delete of its tasks, a chat turn that adds a task (the offline provider calls add_task), or an
MCP tools/call add_task / complete_task. It prints the status counts (every 5xx with its body),
throughput, and checks the file afterwards: every task a 2xx said it created is stored (unless
deleted) with its task.create audit row, and every answered write has its audit row.
--tree runs another project tree (e.g. ``git archive <commit> | tar -x -C /tmp/before``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent

SETUP = """
from apps.keys.services import access_token_create
from django.contrib.auth import get_user_model
for n in range({clients}):
    user = get_user_model().objects.create_user(username=f"writer{{n}}", password="pw-writer-123")
    print(access_token_create(user=user, name="bench").plaintext)
"""

MCP_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",
}


class Tally:
    def __init__(self) -> None:
        self.statuses: collections.Counter[tuple[str, int]] = collections.Counter()
        self.errors: list[str] = []
        self.created: dict[str, str] = {}  # task id -> title, every create a 2xx answered
        self.deleted: set[str] = set()
        self.writes: collections.Counter[str] = collections.Counter()  # audit action -> answered writes
        self.latencies: list[float] = []

    def note(self, op: str, response: httpx2.Response) -> bool:
        self.latencies.append(response.elapsed.total_seconds())
        self.statuses[(op, response.status_code)] += 1
        if response.status_code >= 500:
            self.errors.append(f"{op} {response.status_code} {response.headers.get('retry-after')} {response.text[:200]}")
        return response.status_code < 300


async def client_loop(base: str, token: str, tally: Tally, stop_at: float) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    mine: list[str] = []  # this client's pending tasks (completing one twice writes nothing)
    async with httpx2.AsyncClient(base_url=base, headers=auth, timeout=60) as http:
        while time.monotonic() < stop_at:
            op = random.choice(["create", "create", "update", "complete", "delete", "chat", "mcp_add", "mcp_complete"])
            if op in ("update", "complete", "delete", "mcp_complete") and not mine:
                op = "create"
            try:
                if op == "create":
                    title = f"rest {uuid.uuid4().hex[:8]}"
                    response = await http.post("/api/v1/tasks/", json={"title": title})
                    if tally.note(op, response):
                        mine.append(str(response.json()["id"]))
                        tally.created[mine[-1]] = title
                        tally.writes["task.create"] += 1
                elif op == "update":
                    response = await http.patch(f"/api/v1/tasks/{random.choice(mine)}/", json={"description": uuid.uuid4().hex})
                    if tally.note(op, response):
                        tally.writes["task.update"] += 1
                elif op == "complete":
                    task_id = mine.pop(random.randrange(len(mine)))
                    response = await http.post(f"/api/v1/tasks/{task_id}/complete/")
                    if tally.note(op, response):
                        tally.writes["task.complete"] += 1
                    else:
                        mine.append(task_id)
                elif op == "delete":
                    task_id = mine.pop(random.randrange(len(mine)))
                    response = await http.delete(f"/api/v1/tasks/{task_id}/")
                    if tally.note(op, response):
                        tally.deleted.add(task_id)
                        tally.writes["task.delete"] += 1
                    else:
                        mine.append(task_id)
                elif op == "chat":
                    title = f"chat {uuid.uuid4().hex[:8]}"
                    response = await http.post("/api/v1/chat/", json={"message": f"add task {title}"})
                    if tally.note(op, response):
                        for call in response.json()["tool_calls"]:
                            if call["name"] == "add_task" and not call["is_error"]:
                                tally.created[str(call["result"]["id"])] = title
                                mine.append(str(call["result"]["id"]))
                                tally.writes["task.create"] += 1
                        tally.writes["chat.turn"] += 1
                else:
                    if op == "mcp_add":
                        title = f"mcp {uuid.uuid4().hex[:8]}"
                        name, arguments = "add_task", {"title": title}
                    else:
                        task_id = mine.pop(random.randrange(len(mine)))
                        name, arguments = "complete_task", {"task_id": int(task_id)}
                    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
                    response = await http.post("/mcp", json=body, headers=MCP_HEADERS)
                    if not tally.note(op, response):
                        if op == "mcp_complete":
                            mine.append(task_id)
                    else:
                        result = response.json().get("result", {})
                        if result.get("isError"):
                            tally.statuses[(op + " tool error", 200)] += 1
                            tally.errors.append(f"{op} tool error {json.dumps(result)[:200]}")
                        elif op == "mcp_add":
                            task_id = str(result["structuredContent"]["id"])
                            tally.created[task_id] = title
                            mine.append(task_id)
                            tally.writes["task.create"] += 1
                        else:
                            tally.writes["task.complete"] += 1
            except httpx2.TransportError as exc:
                tally.statuses[(op, 0)] += 1
                tally.errors.append(f"{op} transport {exc!r}")


def verify(db: Path, tally: Tally) -> list[str]:
    problems = []
    con = sqlite3.connect(db)
    stored = {str(row[0]) for row in con.execute("SELECT id FROM todos_task")}
    audited = {str(row[0]) for row in con.execute("SELECT target_id FROM audit_auditevent WHERE action='task.create'")}
    for task_id in tally.created:
        if task_id not in tally.deleted and task_id not in stored:
            problems.append(f"lost task {task_id}")
        if task_id not in audited:
            problems.append(f"no task.create audit row for {task_id}")
    counts = dict(con.execute("SELECT action, COUNT(*) FROM audit_auditevent GROUP BY action").fetchall())
    for action, answered in tally.writes.items():
        if counts.get(action, 0) < answered:
            problems.append(f"{action}: {answered} answered, {counts.get(action, 0)} audit rows")
    con.close()
    return problems


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--port", type=int, default=8600)
    parser.add_argument("--worker", action="store_true", help="also run make run's Celery worker with beat")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the project tree to run")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sqlite-writers-"))
    db = work / "db.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.development",
        "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "true"),  # make run's default
        "DATABASE_URL": f"sqlite:///{db}",
        "MCP_PUBLIC_URL": f"http://127.0.0.1:{args.port}",
        "LOG_LEVEL": "WARNING",
        "AUDIT_SPOOL_DIR": str(work / "spool"),
        "CELERY_FILESYSTEM_DIR": str(work / "celery"),
    }
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=args.tree, env=env, check=True)
    tokens = subprocess.run(
        [python, "manage.py", "shell", "-c", SETUP.format(clients=args.clients)],
        cwd=args.tree, env=env, check=True, capture_output=True, text=True,
    ).stdout.split()
    tokens = [word for word in tokens if word.startswith("tda_")]  # the shell also prints a banner
    processes = []
    log = (work / "server.log").open("w")
    if args.worker:
        worker_env = {**env, "CELERY_BROKER_URL": "filesystem://"}
        env["CELERY_BROKER_URL"] = "filesystem://"  # the server enqueues to the worker, as make run
        processes.append(subprocess.Popen(
            [str(Path(python).parent / "celery"), "-A", "config", "worker", "-B", "--loglevel=WARNING",
             "--concurrency=1", "-s", str(work / "celerybeat-schedule")],
            cwd=args.tree, env=worker_env, stdout=log, stderr=subprocess.STDOUT,
        ))  # fmt: skip
    processes.append(subprocess.Popen(
        [python, "-m", "uvicorn", "config.asgi:application", "--port", str(args.port), "--no-access-log"],
        cwd=args.tree, env=env, stdout=log, stderr=subprocess.STDOUT,
    ))  # fmt: skip
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(300):
            try:
                httpx2.get(f"{base}/healthz", timeout=1)
                break
            except httpx2.TransportError:
                time.sleep(0.1)
        tally = Tally()

        async def run() -> float:
            started = time.monotonic()
            stop_at = started + args.seconds
            await asyncio.gather(*(client_loop(base, token, tally, stop_at) for token in tokens))
            return time.monotonic() - started

        elapsed = asyncio.run(run())
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(20)
        log.close()
    total = sum(tally.statuses.values())
    fivexx = sum(n for (_, status), n in tally.statuses.items() if status >= 500)
    print(f"tree {args.tree}  clients {args.clients}  {elapsed:.1f} s  worker {args.worker}")
    ordered = sorted(tally.latencies) or [0.0]
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
    print(f"requests {total}  {total / elapsed:.1f}/s  5xx {fivexx}  p50 {p50 * 1000:.0f} ms  p99 {p99 * 1000:.0f} ms  max {ordered[-1]:.2f} s")
    for (op, status), n in sorted(tally.statuses.items()):
        print(f"  {op:22} {status}  {n}")
    for line in collections.Counter(e[:160] for e in tally.errors).most_common(8):
        print("  error:", line)
    problems = verify(db, tally)
    print(f"tasks created {len(tally.created)}, deleted {len(tally.deleted)}; problems {len(problems)}")
    for line in problems[:10]:
        print("  ", line)
    server_log = (work / "server.log").read_text(errors="replace")
    print(f"server log: {server_log.count('Traceback')} tracebacks, {server_log.count('database is locked')} 'database is locked'")
    print(f"work dir {work}")


if __name__ == "__main__":
    main()
