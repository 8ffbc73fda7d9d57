"""With Redis, a tools/call's checks read their generations on the event loop (apps.core.loop_cache):
no worker-thread hop of their own, one Redis read for the whole call, and every change still
applies to the very next call.
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest
from django.test import override_settings

from apps.core import localcache
from apps.keys.services import access_token_create, access_token_revoke
from apps.limits.models import UserPolicy
from apps.mcp_tools import http as mcp_http
from apps.mcp_tools.services import tool_registration_update
from config.settings.base import redis_cache
from tests.factories import make_task, make_token, make_user
from tests.mcp_tools.test_http import ACCEPT
from tests.services import require_redis

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_caches():
    require_redis()
    configured = redis_cache(os.environ["REDIS_URL"])
    configured["KEY_PREFIX"] = f"loop-checks-{uuid.uuid4().hex[:8]}"
    with override_settings(CACHES={"default": configured}):
        yield


@pytest.fixture
def counted(monkeypatch):
    """How many worker-thread hops /mcp's checks take, and how many cache reads the tool's hop makes."""
    seen = {"hops": 0, "reads": 0}
    run_db, read_many = mcp_http.run_db, localcache._read_many

    async def counting_run_db(*args):
        seen["hops"] += 1
        return await run_db(*args)

    def counting_read_many(keys):
        seen["reads"] += 1
        return read_many(keys)

    monkeypatch.setattr(mcp_http, "run_db", counting_run_db)
    monkeypatch.setattr(localcache, "_read_many", counting_read_many)
    return seen


def _call(url: str, token: str, name: str, arguments: dict) -> httpx2.Response:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    headers = {**ACCEPT, "Authorization": f"Bearer {token}", "Mcp-Protocol-Version": "2025-11-25"}
    return httpx2.post(f"{url}/mcp", json=message, headers=headers, timeout=10)


def _title(response: httpx2.Response) -> str | None:
    assert response.status_code == 200, response.text[:300]
    result = response.json()["result"]
    return None if result["isError"] else result["structuredContent"]["title"]


def test_a_call_takes_no_hop_for_its_checks_and_one_redis_read_in_all(live_server_url, redis_caches, counted, settings):
    user = make_user("loop-checks")
    created = access_token_create(user=user, name="t")
    task = make_task(user, title="mine")
    for _ in range(2):  # the first call fills this process's copies
        assert _title(_call(live_server_url, created.plaintext, "get_task", {"task_id": task.pk})) == "mine"
    counted.update(hops=0, reads=0)
    for _ in range(3):
        assert _title(_call(live_server_url, created.plaintext, "get_task", {"task_id": task.pk})) == "mine"
    assert counted == {"hops": 0, "reads": 0}  # the loop's MGET had every generation the call needed

    settings.CACHE_LOOP_READS = False  # as before: the checks in a hop of their own
    assert _title(_call(live_server_url, created.plaintext, "get_task", {"task_id": task.pk})) == "mine"
    assert counted["hops"] == 1
    settings.CACHE_LOOP_READS = True

    access_token_revoke(user=user, token_id=created.token.pk)  # bumps the generation the loop reads
    refused = _call(live_server_url, created.plaintext, "get_task", {"task_id": task.pk})
    assert refused.status_code == 401 and "mine" not in refused.text


def test_a_tool_switched_off_a_limit_set_and_a_write_apply_to_the_very_next_call(live_server_url, redis_caches):
    user = make_user("loop-changes")
    token = make_token(user)
    task = make_task(user, title="before")
    for _ in range(2):
        assert _title(_call(live_server_url, token, "get_task", {"task_id": task.pk})) == "before"

    # A write through a tool bumps the user's data version inside the request: the next read sees it.
    updated = _call(live_server_url, token, "update_task", {"task_id": task.pk, "title": "after"})
    assert _title(updated) == "after"
    assert _title(_call(live_server_url, token, "get_task", {"task_id": task.pk})) == "after"

    tool_registration_update(actor=None, name="get_task", enabled=False)
    off = _call(live_server_url, token, "get_task", {"task_id": task.pk}).json()["result"]
    assert off["isError"] and "disabled" in off["content"][0]["text"]
    tool_registration_update(actor=None, name="get_task", enabled=True)

    UserPolicy.objects.create(user=user, mcp_calls_per_minute=1)
    statuses = [_call(live_server_url, token, "get_task", {"task_id": task.pk}).status_code for _ in range(2)]
    assert statuses == [200, 429]


def test_two_users_calling_at_once_each_get_only_their_own_task(live_server_url, redis_caches):
    users = [make_user(f"loop-pair-{n}") for n in range(2)]
    tokens = [make_token(user) for user in users]
    tasks = [make_task(user, title=f"task of {user.username}") for user in users]

    def call(n: int) -> tuple[int, str | None, str | None]:
        who = n % 2
        own = _title(_call(live_server_url, tokens[who], "get_task", {"task_id": tasks[who].pk}))
        other = _call(live_server_url, tokens[who], "get_task", {"task_id": tasks[1 - who].pk}).json()["result"]
        assert other["isError"], other  # another user's task: not found
        return who, own, other["content"][0]["text"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(80)))
    for who, own, refused in results:
        assert own == f"task of {users[who].username}"
        assert users[1 - who].username not in refused
