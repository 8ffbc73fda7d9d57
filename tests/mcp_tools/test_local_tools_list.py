"""The chat's tool list comes from the process's copies, equal to what tools/list answers (issue #12)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from apps.core.errors import Unauthenticated
from apps.mcp_tools import client
from apps.mcp_tools.client import local_tools_list, mcp_tools_list
from apps.mcp_tools.services import tool_registration_update

db = pytest.mark.django_db


@db
def test_local_list_equals_the_mcp_list_and_follows_the_registry(user_a, user_b, monkeypatch):
    assert local_tools_list(user=user_a) == mcp_tools_list(user=user_a)
    first = local_tools_list(user=user_a)
    assert local_tools_list(user=user_a) is first  # no rebuild while the registry is unchanged

    tool_registration_update(actor=user_b, name="add_task", enabled=False)
    tool_registration_update(actor=user_b, name="list_tasks", description_override="List things.")
    local = local_tools_list(user=user_a)
    assert local == mcp_tools_list(user=user_a)
    names = {tool["name"]: tool for tool in local}
    assert "add_task" not in names and names["list_tasks"]["description"] == "List things."


@db
def test_local_list_needs_no_mcp_session(user_a, monkeypatch):
    def no_session(*args, **kwargs):
        raise AssertionError("an MCP session was opened just to list the tools")

    monkeypatch.setattr(client, "Client", no_session)
    assert {tool["name"] for tool in local_tools_list(user=user_a)} >= {"add_task", "get_task"}


@db
def test_local_list_refuses_anonymous_and_inactive_users(user_a):
    with pytest.raises(Unauthenticated):
        local_tools_list(user=AnonymousUser())
    user_a.is_active = False
    with pytest.raises(Unauthenticated):
        local_tools_list(user=user_a)


@db
def test_a_chat_turn_lists_the_tools_without_an_mcp_session(user_a, monkeypatch):
    from apps.chat import services

    calls = []
    real = client.amcp_tools_list

    async def counting(**kwargs):
        calls.append(kwargs)
        return await real(**kwargs)

    monkeypatch.setattr(client, "amcp_tools_list", counting)
    specs = services._tool_specs(user_a)
    assert specs is services._tool_specs(user_a)
    assert {spec.name for spec in specs} >= {"add_task", "get_task"} and calls == []
