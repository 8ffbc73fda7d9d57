"""GET /api/v1/tools/: discovery of the enabled tools."""

from __future__ import annotations

import pytest

from apps.mcp_tools.services import tool_registration_update

pytestmark = pytest.mark.django_db


def test_discovery_lists_enabled_tools_with_schemas_annotations_and_descriptions(client_a, user_b):
    tool_registration_update(actor=user_b, name="delete_task", enabled=False)
    tool_registration_update(actor=user_b, name="get_task", description_override="Look up one task by id.")
    response = client_a.get("/api/v1/tools/")
    assert response.status_code == 200
    tools = {tool["name"]: tool for tool in response.json()["tools"]}
    assert "delete_task" not in tools
    assert tools["get_task"]["description"] == "Look up one task by id."
    assert tools["get_task"]["input_schema"]["properties"]["task_id"]["minimum"] == 1
    assert tools["get_task"]["annotations"] == {
        "read_only_hint": True,
        "destructive_hint": False,
        "idempotent_hint": True,
        "open_world_hint": False,
    }
    assert tools["add_task"]["output_schema"]["type"] == "object"
    assert tools["task_statistics"]["title"] == "Task statistics"


def test_discovery_needs_authentication(anon_client):
    response = anon_client.get("/api/v1/tools/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
