"""`manage.py mcp_stdio --user NAME` as a subprocess, driven by the real mcp.Client over stdio."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from mcp import Client, StdioServerParameters

from tests.factories import make_task, make_user
from tests.mcp_tools.conftest import PROTOCOL_MODES, call, error_of, run

BASE_DIR = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def _database_url_for_a_subprocess(tmp_path: Path) -> str:
    """A DATABASE_URL another process can open and that holds this test's (committed) data.

    PostgreSQL: the test database itself. SQLite: the test database is in memory, so it is
    copied to a file with SQLite's backup API (the subprocess then works on the copy).
    """
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        path = tmp_path / "db.sqlite3"
        connection.ensure_connection()
        target = sqlite3.connect(path)
        connection.connection.backup(target)
        target.close()
        return f"sqlite:///{path}"
    user = quote(settings["USER"] or "", safe="")
    password = f":{quote(settings['PASSWORD'], safe='')}" if settings["PASSWORD"] else ""
    credentials = f"{user}{password}@" if user else ""
    return f"postgres://{credentials}{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"


def _stdio(username: str, database_url: str) -> StdioServerParameters:
    env = {"DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    return StdioServerParameters(
        command=sys.executable, args=["manage.py", "mcp_stdio", "--user", username], env=env, cwd=str(BASE_DIR)
    )


def test_stdio_serves_the_tools_as_the_named_user_in_both_protocol_versions(tmp_path):
    alice, bob = make_user("alice"), make_user("bob")
    make_task(alice, title="alice's task")
    bobs = make_task(bob, title="bob's task")
    database_url = _database_url_for_a_subprocess(tmp_path)

    async def scenario(mode):
        async with Client(_stdio("alice", database_url), mode=mode, cache=None) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            added = await call(client, "add_task", {"title": f"added over stdio ({mode})"})
            listed = await call(client, "list_tasks", {"limit": 100})
            foreign = await call(client, "delete_task", {"task_id": bobs.pk})
            invalid = await call(client, "get_task", {"task_id": "one"})
            return client.protocol_version, tools, added, listed, foreign, invalid

    for mode, version in PROTOCOL_MODES.items():
        negotiated, tools, added, listed, foreign, invalid = run(scenario(mode))
        assert negotiated == version
        assert {"add_task", "list_tasks", "delete_task", "task_statistics"} <= tools
        assert not added.is_error and added.structured_content["title"] == f"added over stdio ({mode})"
        titles = {task["title"] for task in listed.structured_content["tasks"]}
        assert "alice's task" in titles and "bob's task" not in titles
        assert error_of(foreign)["code"] == "task_not_found"
        assert error_of(invalid)["code"] == "invalid_arguments"
    # Both sessions wrote to the same database: the second saw the first one's task.
    assert {"added over stdio (legacy)", "added over stdio (auto)"} <= titles


def test_stdio_refuses_an_unknown_user():
    with pytest.raises(CommandError, match="No active user"):
        call_command("mcp_stdio", "--user", "nobody")
