"""The tool registry: rows follow the code, operators manage them in the admin, other apps add tools by the hook."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.mcp_tools.models import ToolRegistration
from apps.mcp_tools.registry import mcp_tool, registered_kinds, registered_tools
from apps.mcp_tools.server import get_server
from apps.mcp_tools.services import tool_registration_update, tool_registry_sync
from tests.factories import make_task

pytestmark = pytest.mark.django_db


def test_migrate_created_a_row_for_every_tool_defined_in_code():
    # pytest-django ran migrate, whose post_migrate hook synced the registry (tools, resources, prompts).
    rows = dict(ToolRegistration.objects.values_list("name", "kind"))
    assert rows == {name: kind for name, (kind, _spec) in registered_kinds().items()}
    assert set(registered_tools()) <= set(rows)


def test_sync_adds_new_tools_keeps_operator_settings_and_marks_removed_ones_unavailable():
    ToolRegistration.objects.filter(name="add_task").delete()
    ToolRegistration.objects.filter(name="list_tasks").update(enabled=False, notes="keep", description_override="x")
    ToolRegistration.objects.create(name="retired_tool", notes="history")

    assert tool_registry_sync() == ["add_task"]

    listing = ToolRegistration.objects.get(name="list_tasks")
    assert (listing.enabled, listing.notes, listing.description_override) == (False, "keep", "x")
    retired = ToolRegistration.objects.get(name="retired_tool")
    assert not retired.available and retired.notes == "history"
    assert ToolRegistration.objects.get(name="add_task").default_description.startswith("Add a task")
    assert tool_registry_sync() == []


def test_another_app_contributes_a_tool_through_the_hook_alone(user_a):
    spec = registered_tools()["task_statistics"]
    assert spec.app_label == "todos" and spec.fn.__module__ == "apps.todos.mcp_tools"
    assert ToolRegistration.objects.get(name="task_statistics").app_label == "todos"
    assert "task_statistics" in get_server().sdk_tools

    from apps.mcp_tools.client import mcp_tool_call

    make_task(user_a, title="late", due_date="2020-01-01")
    make_task(user_a, title="done", completed=True, completed_at="2026-01-01T00:00:00Z")
    stats = mcp_tool_call(user=user_a, name="task_statistics", arguments={}).structured
    assert stats == {"total": 2, "pending": 1, "completed": 1, "overdue": 1, "due_today": 0, "high_priority_pending": 0}


def test_the_hook_refuses_tools_without_a_description_or_with_a_bad_name():
    with pytest.raises(ImproperlyConfigured, match="docstring"):

        @mcp_tool(title="No doc")
        def undocumented() -> None:
            pass

    with pytest.raises(ImproperlyConfigured, match="must match"):

        @mcp_tool(title="Bad", name="Bad Name")
        def bad() -> None:
            """Doc."""


def test_operator_changes_are_audited(user_a):
    tool_registration_update(actor=user_a, name="delete_task", enabled=False, notes="too risky for now")
    event = AuditEvent.objects.get(action="mcp.tool_registration.update")
    assert event.actor == user_a and event.target_id == str(ToolRegistration.objects.get(name="delete_task").pk)
    assert event.metadata == {
        "fields": ["enabled", "notes"],
        "changes": {"enabled": {"before": True, "after": False}, "notes": {"before": "", "after": "too risky for now"}},
        "enabled": False,
    }
    tool_registration_update(actor=user_a, name="delete_task", enabled=False)  # no change, no event
    assert AuditEvent.objects.filter(action="mcp.tool_registration.update").count() == 1


def test_the_admin_lists_edits_and_disables_tools(admin_client):
    changelist = reverse("admin:mcp_tools_toolregistration_changelist")
    assert admin_client.get(changelist).status_code == 200
    row = ToolRegistration.objects.get(name="get_task")
    response = admin_client.post(
        reverse("admin:mcp_tools_toolregistration_change", args=[row.pk]),
        {"enabled": "on", "description_override": "Fetch one task.", "notes": "n"},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.description == "Fetch one task." and row.notes == "n"

    response = admin_client.post(
        changelist, {"action": "disable_selected", "_selected_action": [row.pk, ToolRegistration.objects.get(name="add_task").pk]}
    )
    assert response.status_code == 302
    assert set(ToolRegistration.objects.filter(enabled=False).values_list("name", flat=True)) == {"get_task", "add_task"}
    assert AuditEvent.objects.filter(action="mcp.tool_registration.update").count() == 3
    assert admin_client.get(reverse("admin:mcp_tools_toolregistration_add")).status_code == 403
