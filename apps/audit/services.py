"""Writing audit events. Call audit_record inside the same transaction as the change it records."""

from __future__ import annotations

import re
from typing import Any

from django.db import models

from apps.audit.models import AuditEvent
from apps.core.request_context import current_request_context

# Metadata keys that could carry a secret are never stored, whatever the caller passes.
_SECRET_KEY_RE = re.compile(r"(^|_)(key|token|secret|password|authorization|ciphertext)s?($|_)", re.I)
_ALLOWED_SECRETISH = {"key_id", "token_prefix", "key_last4", "master_key_id", "provider_key_id", "token_id"}
REDACTED = "[redacted]"


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (REDACTED if _SECRET_KEY_RE.search(str(k)) and k not in _ALLOWED_SECRETISH else _scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def audit_record(
    *,
    actor: Any | None,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: Any = "",
    outcome: str = AuditEvent.Outcome.SUCCESS,
    metadata: dict[str, Any] | None = None,
) -> AuditEvent:
    """Store one audit event; request id and client ip come from the current request context."""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
    ctx = current_request_context()
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=user,
        actor_username=getattr(user, "username", "") or "",
        action=action,
        target_type=target_type,
        target_id="" if target_id is None else str(target_id),
        outcome=outcome,
        request_id=ctx.request_id,
        client_ip=ctx.client_ip,
        metadata=_scrub(metadata or {}),
    )


def usage_record(*, user, provider: str, model: str, input_tokens: int, output_tokens: int, cost, **extra):
    """Store the usage of one model call (inside the caller's transaction)."""
    from apps.audit.models import UsageRecord

    return UsageRecord.objects.create(
        user=user,
        provider=provider,
        model=model,
        input_tokens=max(int(input_tokens), 0),
        output_tokens=max(int(output_tokens), 0),
        cost=cost,
        **extra,
    )
