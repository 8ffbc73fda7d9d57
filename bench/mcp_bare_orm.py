"""The same-work baseline for bench/mcp_bench.py: a bare MCPServer whose get_task does the
project's database work — the user-scoped read (the project's selector) and the audit insert
(the project's audit service) — with none of the project's MCP pipeline: no token check, no
registry check, no argument pre-check, no per-call context. The user is fixed at start-up.

Run by the benchmark as `uvicorn bench.mcp_bare_orm:app` with the project's DATABASE_URL.
"""

import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from mcp.server.mcpserver import MCPServer  # noqa: E402

from apps.audit.services import audit_record  # noqa: E402
from apps.todos.tool_schemas import TaskOut  # noqa: E402
from apps.todos.selectors import task_get  # noqa: E402

USER = get_user_model().objects.get(username=os.environ.get("BENCH_USERNAME", "demo"))
server = MCPServer("bare-orm", log_level="WARNING")


@server.tool()
def get_task(task_id: int) -> TaskOut:
    """Get one of the user's tasks by id."""
    started = time.perf_counter()
    task = TaskOut.of(task_get(user=USER, task_id=task_id))
    audit_record(
        actor=USER,
        action="mcp.tool_call",
        target_type="mcp.tool",
        target_id="get_task",
        outcome="success",
        metadata={"tool": "get_task", "caller": "bench", "latency_ms": round((time.perf_counter() - started) * 1000, 2)},
    )
    return task


app = server.streamable_http_app(stateless_http=True, json_response=True)
