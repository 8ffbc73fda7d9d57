"""The per-call shortcuts of /mcp keep their promises: a change to a token, a user, a tool or a limit policy applies at once."""

from __future__ import annotations

import sys
import time
from datetime import timedelta

import httpx2
import pytest
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from apps.core.localcache import MISS, reads_are_local
from apps.keys.models import AccessToken
from apps.keys.selectors import access_token_authenticate_cached, verified_tokens
from apps.keys.services import access_token_create, access_token_revoke
from apps.limits.mcp import mcp_call_refusal_local
from apps.limits.models import UserPolicy
from apps.limits.selectors import user_policy_get_cached
from apps.mcp_tools.db import database_threads
from apps.mcp_tools.models import ToolRegistration
from apps.mcp_tools.selectors import tool_enabled
from apps.mcp_tools.services import tool_registry_sync
from tests.factories import make_task, make_token, make_user
from tests.mcp_tools.test_http import ACCEPT, INITIALIZE

pytestmark = pytest.mark.django_db(transaction=True)


def _status(url: str, token: str) -> int:
    response = httpx2.post(f"{url}/mcp", json=INITIALIZE, headers={**ACCEPT, "Authorization": f"Bearer {token}"}, timeout=10)
    return response.status_code


@pytest.mark.parametrize("change", ["revoke", "deactivate user", "expire", "delete"])
def test_a_token_accepted_a_moment_ago_is_refused_right_after_a_change(live_server_url, change):
    user = make_user("holder")
    created = access_token_create(user=user, name="t")
    assert _status(live_server_url, created.plaintext) == 200
    assert _status(live_server_url, created.plaintext) == 200  # now from the process's copy
    if change == "revoke":
        access_token_revoke(user=user, token_id=created.token.pk)
    elif change == "deactivate user":
        user.is_active = False
        user.save(update_fields=["is_active"])
    elif change == "expire":
        token = AccessToken.objects.get(pk=created.token.pk)
        token.expires_at = timezone.now() - timedelta(seconds=1)
        token.save(update_fields=["expires_at"])
    else:
        AccessToken.objects.filter(pk=created.token.pk).delete()
    assert _status(live_server_url, created.plaintext) == 401


def test_a_token_that_expires_while_copied_is_refused_when_it_expires(live_server_url):
    user = make_user("holder")
    created = access_token_create(user=user, name="t", expires_at=timezone.now() + timedelta(seconds=1))
    assert _status(live_server_url, created.plaintext) == 200
    time.sleep(1.1)
    assert _status(live_server_url, created.plaintext) == 401


def test_a_copied_token_costs_no_query_and_failures_are_never_copied(django_assert_num_queries):
    user = make_user("holder")
    plaintext = access_token_create(user=user, name="t").plaintext
    with django_assert_num_queries(1):  # the token joined with its user
        assert access_token_authenticate_cached(plaintext=plaintext).user == user
    with django_assert_num_queries(0):
        assert access_token_authenticate_cached(plaintext=plaintext).user == user
    wrong = plaintext[:-1] + ("a" if plaintext[-1] != "a" else "b")
    assert access_token_authenticate_cached(plaintext=wrong) is None
    with django_assert_num_queries(1):
        assert access_token_authenticate_cached(plaintext=wrong) is None


def test_a_login_stamp_does_not_drop_the_copies():
    user = make_user("holder")
    generation = verified_tokens.generation()
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    assert verified_tokens.generation() == generation
    user.first_name = "changed"
    user.save()
    assert verified_tokens.generation() != generation


@override_settings(ACCESS_TOKEN_CACHE_SECONDS=0)
def test_with_copies_off_every_request_reads_the_database(django_assert_num_queries):
    user = make_user("holder")
    plaintext = access_token_create(user=user, name="t").plaintext
    for _ in range(2):
        with django_assert_num_queries(1):
            access_token_authenticate_cached(plaintext=plaintext)


def test_last_used_at_is_still_recorded(live_server_url):
    user = make_user("holder")
    created = access_token_create(user=user, name="t")
    assert _status(live_server_url, created.plaintext) == 200
    assert AccessToken.objects.get(pk=created.token.pk).last_used_at is not None


def test_the_registry_snapshot_follows_saves_at_once_and_updates_behind_the_orm_within_the_ttl():
    tool_registry_sync()
    assert tool_enabled("get_task")
    row = ToolRegistration.objects.get(name="get_task")
    row.enabled = False
    row.save()
    assert not tool_enabled("get_task")  # a save (the admin, the service) applies at once

    ToolRegistration.objects.filter(name="get_task").update(enabled=True)  # no signal
    assert not tool_enabled("get_task")  # stale, but only until the TTL
    with override_settings(MCP_REGISTRY_CACHE_SECONDS=0):
        assert tool_enabled("get_task")


def test_database_threads_default_to_one_on_sqlite_and_follow_the_setting():
    expected = 1 if connections["default"].vendor == "sqlite" else 8
    assert database_threads() == expected
    with override_settings(MCP_DATABASE_THREADS=3):
        assert database_threads() == 3


def test_the_asgi_module_sets_the_switch_interval():
    from django.conf import settings

    import config.asgi  # noqa: F401

    assert sys.getswitchinterval() == pytest.approx(settings.PYTHON_SWITCH_INTERVAL_SECONDS)


def _get_task(url: str, token: str, task_id: int) -> httpx2.Response:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_task", "arguments": {"task_id": task_id}}}
    headers = {**ACCEPT, "Authorization": f"Bearer {token}", "Mcp-Protocol-Version": "2025-11-25"}
    return httpx2.post(f"{url}/mcp", json=message, headers=headers, timeout=10)


def test_a_tools_call_with_a_token_revoked_a_moment_ago_is_refused(live_server_url):
    # tools/call has its own checks before the SDK (scope, limit): they and the SDK share one verification per request.
    user = make_user("caller")
    created = access_token_create(user=user, name="t")
    task = make_task(user, title="mine")
    assert _get_task(live_server_url, created.plaintext, task.pk).status_code == 200
    assert _get_task(live_server_url, created.plaintext, task.pk).status_code == 200  # from the copies
    access_token_revoke(user=user, token_id=created.token.pk)
    refused = _get_task(live_server_url, created.plaintext, task.pk)
    assert refused.status_code == 401
    assert "mine" not in refused.text


def test_a_limit_set_after_unlimited_calls_applies_to_the_very_next_tools_call(live_server_url):
    user = make_user("limited-later")
    token = make_token(user)
    task = make_task(user, title="mine")
    assert [_get_task(live_server_url, token, task.pk).status_code for _ in range(3)] == [200, 200, 200]
    UserPolicy.objects.create(user=user, mcp_calls_per_minute=1)  # the copied "no limit" must go at once
    assert [_get_task(live_server_url, token, task.pk).status_code for _ in range(2)] == [200, 429]
    policy = UserPolicy.objects.get(user=user)
    policy.mcp_calls_per_minute = None
    policy.save()
    assert _get_task(live_server_url, token, task.pk).status_code == 200


def test_the_policy_copy_costs_no_query_and_follows_every_policy_save(django_assert_num_queries):
    user = make_user("policy-copy")
    assert mcp_call_refusal_local(user=user, calls=1) is MISS  # nothing copied yet: to a thread
    assert user_policy_get_cached(user=user).mcp_calls_per_minute is None
    with django_assert_num_queries(0):
        assert user_policy_get_cached(user=user).mcp_calls_per_minute is None
        # No limit: decided on the event loop where the generation is in local memory (else one thread hop, for Redis).
        assert mcp_call_refusal_local(user=user, calls=1) is (None if reads_are_local() else MISS)
    UserPolicy.objects.update_or_create(user=None, defaults={"mcp_calls_per_minute": 5})  # the default row
    assert mcp_call_refusal_local(user=user, calls=1) is MISS
    assert user_policy_get_cached(user=user).mcp_calls_per_minute == 5
    assert mcp_call_refusal_local(user=user, calls=1) is MISS  # a limit to count: in a thread


def test_a_worker_thread_keeps_its_cache_backend_between_calls_until_the_caches_are_reconfigured():
    import asyncio
    import threading

    from django.core.cache import caches
    from django.core.cache.backends.dummy import DummyCache

    from apps.mcp_tools.db import run_db

    def backend():
        return caches["default"], threading.get_ident()

    async def calls():
        seen = [await run_db(None, backend) for _ in range(2)]
        with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}):
            seen += [await run_db(None, backend) for _ in range(2)]
        return seen + [await run_db(None, backend)]

    (first, thread), (second, _), (reconfigured, _), (again, _), (after, last_thread) = asyncio.run(calls())
    assert thread == last_thread  # one worker thread throughout
    assert first is second  # not a new backend object (and Redis client) for every call
    assert isinstance(reconfigured, DummyCache) and reconfigured is again  # reconfigured: the new backend
    assert after is not reconfigured and not isinstance(after, DummyCache)  # and back
