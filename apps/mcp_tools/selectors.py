"""Reads of the tool registry."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DatabaseError

from apps.mcp_tools.models import ToolRegistration


@dataclass(frozen=True)
class ToolState:
    enabled: bool
    description_override: str


def tool_registration_list():
    return ToolRegistration.objects.all()


def tool_states() -> dict[str, ToolState]:
    """Operator settings by tool name. A tool without a row is enabled with its own description."""
    rows = ToolRegistration.objects.values_list("name", "enabled", "description_override")
    return {name: ToolState(enabled, override.strip()) for name, enabled, override in rows}


def tool_enabled(name: str) -> bool:
    """Whether operators allow the tool; a tool without a row (not synced yet) is enabled."""
    try:
        enabled = ToolRegistration.objects.filter(name=name).values_list("enabled", flat=True).first()
    except DatabaseError:  # no registry table yet (an unmigrated database): the code's tools, all enabled
        return True
    return enabled is None or enabled


def tool_states_or_defaults() -> dict[str, ToolState]:
    """Like tool_states, but an unmigrated database (no registry table yet) means all defaults."""
    try:
        return tool_states()
    except DatabaseError:
        return {}
