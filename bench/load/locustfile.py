"""Locust scenario against `make stack` (bench/load/run.sh starts everything and runs this headless).

Each simulated user signs in with one of the seeded access tokens (LOAD_TOKENS, comma-separated)
and, with think time, mixes: chat turns against the fake provider, a few streaming turns, REST
task traffic, MCP tool calls over /mcp, and now and then a key check (a task for the worker).
Any non-2xx answer is a failure.
"""

from __future__ import annotations

import itertools
import os
import random

from locust import HttpUser, between, task

TOKENS = [t for t in os.environ.get("LOAD_TOKENS", "").split(",") if t]
_next = itertools.count()
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-11-25"}


class AssistantUser(HttpUser):
    wait_time = between(2, 6)

    def on_start(self) -> None:
        index = next(_next)
        token, key_id = TOKENS[index % len(TOKENS)].split(":")
        self.key_id = key_id
        self.client.headers.update({"Authorization": f"Bearer {token}"})
        self.task_ids: list[int] = []

    @task(3)
    def chat_turn(self) -> None:
        self.client.post("/api/v1/chat/", json={"message": f"remember item {random.randint(1, 10**6)}"}, name="chat")

    @task(1)
    def chat_stream(self) -> None:
        with self.client.post(
            "/api/v1/chat/", json={"message": "stream please", "stream": True}, name="chat (stream)",
            stream=True, catch_response=True,
        ) as response:  # fmt: skip
            body = b"".join(response.iter_content(chunk_size=None))
            if response.status_code != 200 or b"event: done" not in body:
                response.failure(f"stream ended without done ({response.status_code})")
            else:
                response.success()

    @task(4)
    def list_tasks(self) -> None:
        self.client.get("/api/v1/tasks/", name="tasks: list")

    @task(2)
    def create_and_complete_task(self) -> None:
        created = self.client.post("/api/v1/tasks/", json={"title": f"load {random.randint(1, 10**6)}"}, name="tasks: create")
        if created.status_code == 201:
            task_id = created.json()["id"]
            self.client.post(f"/api/v1/tasks/{task_id}/complete/", name="tasks: complete")
            self.client.delete(f"/api/v1/tasks/{task_id}/", name="tasks: delete")

    @task(3)
    def mcp_list_tasks(self) -> None:
        message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_tasks", "arguments": {}}}
        with self.client.post("/mcp", json=message, headers=MCP_HEADERS, name="mcp: list_tasks", catch_response=True) as r:
            if r.status_code != 200 or r.json().get("result", {}).get("isError") is not False:
                r.failure(f"tools/call failed ({r.status_code}): {r.text[:200]}")

    @task(1)
    def mcp_add_task(self) -> None:
        arguments = {"title": f"mcp load {random.randint(1, 10**6)}"}
        message = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add_task", "arguments": arguments}}
        with self.client.post("/mcp", json=message, headers=MCP_HEADERS, name="mcp: add_task", catch_response=True) as r:
            if r.status_code != 200 or r.json().get("result", {}).get("isError") is not False:
                r.failure(f"tools/call failed ({r.status_code}): {r.text[:200]}")

    @task(1)
    def validate_key(self) -> None:
        self.client.post(f"/api/v1/keys/{self.key_id}/validate/", name="keys: validate (queued)")
