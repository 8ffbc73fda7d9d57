"""0 stale reads across processes: two server processes sharing PostgreSQL and Redis, each caching tool results."""

from __future__ import annotations

import uuid

import httpx2
import pytest

from tests.factories import make_token, make_user
from tests.mcp_tools.conftest import http_session, run
from tests.services import require_postgres, require_redis

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


async def _tool(base_url: str, token: str, name: str, arguments: dict | None = None) -> dict:
    async with http_session(base_url, token) as client:
        result = await client.call_tool(name, arguments or {})
    assert not result.is_error, result
    return result.structured_content


def test_a_write_in_one_process_is_seen_by_the_next_read_in_another(app_server):
    require_postgres()
    require_redis()
    user = make_user("alice")
    token = make_token(user)
    prefix = f"c2-processes-{uuid.uuid4().hex[:8]}"
    a = app_server(TEST_CACHE_KEY_PREFIX=prefix)
    b = app_server(TEST_CACHE_KEY_PREFIX=prefix)
    api = httpx2.Client(base_url=a.url, headers={"Authorization": f"Bearer {token}"}, timeout=15)

    def titles(server) -> list[str]:
        return [t["title"] for t in run(_tool(server.url, token, "list_tasks"))["tasks"]]

    assert titles(b) == [] and titles(b) == []  # B has it cached now
    created = api.post("/api/v1/tasks/", json={"title": "written in A"})
    assert created.status_code == 201, created.text
    assert titles(b) == ["written in A"]  # through the REST API in A

    task_id = run(_tool(a.url, token, "add_task", {"title": "added over MCP in A"}))["id"]
    assert run(_tool(b.url, token, "get_task", {"task_id": task_id}))["title"] == "added over MCP in A"
    assert run(_tool(b.url, token, "task_statistics"))["total"] == 2

    run(_tool(b.url, token, "get_task", {"task_id": task_id}))  # cached in B again
    run(_tool(a.url, token, "update_task", {"task_id": task_id, "title": "renamed in A"}))
    assert run(_tool(b.url, token, "get_task", {"task_id": task_id}))["title"] == "renamed in A"
    assert api.post(f"/api/v1/tasks/{task_id}/complete/").status_code == 200
    assert run(_tool(b.url, token, "get_task", {"task_id": task_id}))["completed"] is True
    assert run(_tool(b.url, token, "task_statistics"))["completed"] == 1
    assert api.delete(f"/api/v1/tasks/{task_id}/").status_code == 204
    assert titles(b) == ["written in A"]
    api.close()
