"""Reads of the tool registry."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DatabaseError

from apps.core.localcache import MISS, GenerationCache
from apps.mcp_tools.models import ToolRegistration

# The operator settings of every tool, as one snapshot; bumped when any registration row is
# saved or deleted (apps.mcp_tools.apps), so a tool switched off is refused at once.
registry_snapshot = GenerationCache("mcp_tool_registry", ttl_setting="MCP_REGISTRY_CACHE_SECONDS", max_entries=1)


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
    state = tool_states_or_defaults().get(name)
    return state is None or state.enabled


def tool_states_or_defaults() -> dict[str, ToolState]:
    """Like tool_states (from this process's snapshot while no row changed); an unmigrated database means all defaults."""
    generation = registry_snapshot.generation()  # before the database read
    states = registry_snapshot.get("states", generation)
    if states is not MISS:
        return states
    try:
        states = tool_states()
    except DatabaseError:  # no registry table yet (an unmigrated database): the code's tools, all enabled
        return {}
    registry_snapshot.put("states", states, generation)
    return states
