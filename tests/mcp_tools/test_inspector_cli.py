"""The MCP Inspector CLI (the TypeScript SDK's client) over stdio and HTTP: tool errors reach it as the server's message.

The TypeScript client validates a result's structuredContent against the tool's output schema
whenever it is present, so an error result carrying structured content made the Inspector
exit with a schema error instead of showing "Task not found.".

Node 22 and the Inspector are installed once from the npm registry into
``$MCP_CHECK_TOOLS`` (default ``~/.cache/mcp-check-tools``), as ``.ci/run`` and the
conformance check do; without them these tests are skipped, saying so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from apps.todos.models import Task
from tests.factories import make_task, make_token, make_user
from tests.mcp_tools.test_stdio import BASE_DIR, _database_url_for_a_subprocess

pytestmark = pytest.mark.django_db(transaction=True)

TOOLS_DIR = Path(os.environ.get("MCP_CHECK_TOOLS") or Path.home() / ".cache" / "mcp-check-tools")
NODE = TOOLS_DIR / "node_modules" / ".bin" / "node"
INSPECTOR = TOOLS_DIR / "node_modules" / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build" / "index.js"
EXIT_TOOL_IS_ERROR = 5  # the Inspector CLI's exit code for a result with isError: true


def _node_major() -> int | None:
    try:
        out = subprocess.run([str(NODE), "--version"], capture_output=True, text=True, timeout=20, check=True).stdout
        return int(out.strip().lstrip("v").split(".")[0])
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def _require_inspector() -> None:
    if not INSPECTOR.is_file():
        pytest.skip(
            f"MCP Inspector CLI not installed in {TOOLS_DIR} (set MCP_CHECK_TOOLS, or run: cd {TOOLS_DIR} && "
            "npm install node@22 @modelcontextprotocol/inspector@2)"
        )
    if (major := _node_major()) is None or major < 22:
        pytest.skip(f"the MCP Inspector needs Node 22+ at {NODE}; found {major or 'none'}")


def _inspect(target: list[str], tool: str, args: dict[str, object], tmp_path: Path) -> tuple[int, dict]:
    command = [str(NODE), str(INSPECTOR), "--cli", *target, "--method", "tools/call", "--tool-name", tool]
    for name, value in args.items():
        command += ["--tool-arg", f"{name}={value}"]
    # Its own HOME: the Inspector may keep a catalog or secrets file there.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "NO_COLOR": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, env=env, cwd=str(BASE_DIR))
    assert done.stdout.strip(), f"no result from the Inspector (exit {done.returncode}): {done.stderr[-2000:]}"
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:  # e.g. the Inspector's own validation error, not a tool result
        pytest.fail(f"the Inspector printed no tool result (exit {done.returncode}): {done.stdout[-2000:]}")
    return done.returncode, result


def _assert_server_message(outcome: tuple[int, dict], message: str) -> None:
    code, result = outcome
    assert code == EXIT_TOOL_IS_ERROR, result
    assert result["isError"] is True
    assert "structuredContent" not in result  # what the TypeScript client would validate
    assert result["content"] == [{"type": "text", "text": message}]


def _scenario(target: list[str], tmp_path: Path, bobs_task: int) -> None:
    _assert_server_message(
        _inspect(target, "get_task", {"task_id": "one"}, tmp_path),
        "Invalid arguments: task_id must be an integer (int_type).",
    )
    _assert_server_message(_inspect(target, "complete_task", {"task_id": 987654}, tmp_path), "Task not found.")
    _assert_server_message(_inspect(target, "delete_task", {"task_id": bobs_task}, tmp_path), "Task not found.")
    # A success still validates against the output schema.
    code, added = _inspect(target, "add_task", {"title": "from the inspector"}, tmp_path)
    assert code == 0 and added["structuredContent"]["title"] == "from the inspector", added


def test_the_inspector_cli_over_stdio_shows_the_servers_tool_error_messages(tmp_path):
    _require_inspector()
    make_user("alice")
    bobs = make_task(make_user("bob"), title="bob's task")
    database_url = _database_url_for_a_subprocess(tmp_path)
    env = ["-e", "DJANGO_SETTINGS_MODULE=config.settings.test", "-e", f"DATABASE_URL={database_url}", "-e", "LOG_LEVEL=WARNING"]
    if os.environ.get("REDIS_URL"):
        env += ["-e", f"REDIS_URL={os.environ['REDIS_URL']}"]
    target = [*env, "--cwd", str(BASE_DIR), sys.executable, "manage.py", "mcp_stdio", "--user", "alice"]

    _scenario(target, tmp_path, bobs.pk)
    if not database_url.startswith("sqlite"):  # SQLite: the subprocess wrote to a copy
        assert Task.objects.get(pk=bobs.pk).title == "bob's task"


def test_the_inspector_cli_over_http_shows_the_servers_tool_error_messages(live_server_url, tmp_path):
    _require_inspector()
    token = make_token(make_user("alice"))
    bobs = make_task(make_user("bob"), title="bob's task")
    target = [f"{live_server_url}/mcp", "--transport", "http", "--header", f"Authorization: Bearer {token}"]

    _scenario(target, tmp_path, bobs.pk)
    assert Task.objects.get(pk=bobs.pk).title == "bob's task"
    assert Task.objects.filter(title="from the inspector").count() == 1
