"""Writes of the tool registry; operator changes are audited in the same transaction."""

from __future__ import annotations

import logging

from django.db import DEFAULT_DB_ALIAS, transaction

from apps.audit.services import audit_record
from apps.core.errors import NotFound
from apps.mcp_tools.models import ToolRegistration

logger = logging.getLogger(__name__)

_UNSET = object()


def tool_registry_sync(*, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Make the registry rows match the tools defined in code; returns the names added.

    New tools get an enabled row; tools gone from the code are marked unavailable (their
    operator notes are kept). Operator settings are never overwritten.
    """
    from apps.mcp_tools.registry import registered_kinds

    specs = registered_kinds()
    with transaction.atomic(using=using):
        rows = {row.name: row for row in ToolRegistration.objects.using(using).select_for_update()}
        added = []
        for name, (kind, spec) in specs.items():
            row = rows.get(name)
            if row is None:
                ToolRegistration.objects.using(using).create(
                    name=name, kind=kind, app_label=spec.app_label, default_description=spec.description
                )
                added.append(name)
            elif (row.kind, row.app_label, row.default_description, row.available) != (
                kind,
                spec.app_label,
                spec.description,
                True,
            ):
                row.kind, row.app_label, row.default_description, row.available = kind, spec.app_label, spec.description, True
                row.save(using=using, update_fields=["kind", "app_label", "default_description", "available", "updated_at"])
        gone = [name for name, row in rows.items() if name not in specs and row.available]
        ToolRegistration.objects.using(using).filter(name__in=gone).update(available=False)
    if added or gone:
        logger.info("MCP tool registry synced: added %s, unavailable %s", added, gone)
    return added


@transaction.atomic
def tool_registration_update(
    *,
    actor,
    name: str,
    enabled: bool = _UNSET,
    description_override: str = _UNSET,
    notes: str = _UNSET,
) -> ToolRegistration:
    """Change an operator setting of one tool (creating its row if the sync has not run yet)."""
    from apps.mcp_tools.registry import registered_kinds

    kind, spec = registered_kinds().get(name, (None, None))
    row = ToolRegistration.objects.select_for_update().filter(name=name).first()
    if row is None:
        if spec is None:
            raise NotFound("Tool not found.", code="tool_not_found", extra={"tool": name})
        row = ToolRegistration.objects.create(
            name=name, kind=kind, app_label=spec.app_label, default_description=spec.description
        )
    values = {"enabled": enabled, "description_override": description_override, "notes": notes}
    changed = [field for field, value in values.items() if value is not _UNSET and getattr(row, field) != value]
    if not changed:
        return row
    changes = {field: {"before": getattr(row, field), "after": values[field]} for field in changed}
    for field in changed:
        setattr(row, field, values[field])
    row.save(update_fields=[*changed, "updated_at"])
    audit_record(
        actor=actor,
        action="mcp.tool_registration.update",
        target=row,
        metadata={"fields": changed, "changes": changes, "enabled": row.enabled},
    )
    return row
