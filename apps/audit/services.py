"""Writing audit events. Call audit_record inside the same transaction as the change it records."""

from __future__ import annotations

import json
import re
from typing import Any

from django.db import connections, models, router, transaction
from django.utils import timezone

from apps.audit.chain import row_hash
from apps.audit.models import AuditEvent
from apps.core.request_context import current_request_context

# Metadata keys that name a secret are never stored, whatever the caller passes. A key is
# split into words ("providerKeyId", "X-Api-Key", "input_tokens" -> [provider, key, id] ...):
# it is redacted when a word names a secret, unless the key is plainly *about* the secret
# rather than the secret itself (its last word is an id, prefix, last4, count, status ...),
# or is a model-token count ("input_tokens", "max_tokens", or a "tokens" holding a number).
_SECRET_WORDS = frozenset(
    {
        "key", "keys", "apikey", "token", "tokens", "secret", "secrets", "password", "passwords", "passwd",
        "passphrase", "authorization", "credential", "credentials", "ciphertext", "plaintext", "cookie",
        "cookies", "bearer", "signature", "private",
    }
)  # fmt: skip
_ABOUT_A_SECRET = frozenset(
    {
        "id", "ids", "pk", "prefix", "last4", "suffix", "fingerprint", "hint", "count", "length", "len",
        "status", "kind", "type", "name", "label", "version", "expires", "expiry", "created", "used",
        "revoked", "valid", "present", "set", "source",
    }
)  # fmt: skip
_TOKEN_COUNT_QUALIFIERS = frozenset(
    {
        "input", "output", "prompt", "completion", "total", "max", "cached", "cache", "reasoning", "used",
        "limit", "remaining", "read", "creation", "billed",
    }
)  # fmt: skip
_WORD_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
REDACTED = "[redacted]"


def _words(name: str) -> list[str]:
    words = [w.lower() for w in _WORD_RE.findall(name)]
    # "last4", "sha256": a trailing number belongs to the word before it.
    merged: list[str] = []
    for word in words:
        if word.isdigit() and merged and not merged[-1].isdigit():
            merged[-1] += word
        else:
            merged.append(word)
    return merged


def _is_secret_field(name: object, value: Any) -> bool:
    words = _words(str(name))
    if not any(word in _SECRET_WORDS for word in words):
        return False
    if words[-1] in _ABOUT_A_SECRET:
        return False
    if words[-1] in {"tokens", "token"}:
        counted = len(words) > 1 and words[-2] in _TOKEN_COUNT_QUALIFIERS
        if counted or (isinstance(value, int) and not isinstance(value, bool)):
            return False  # model tokens: a count, not a credential
    return True


def _no_nul(value: Any) -> Any:
    # PostgreSQL refuses NUL in text and jsonb: a caller's text with one (an unknown MCP tool
    # named "a\x00b") would otherwise cost the event itself.
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {_no_nul(k): (REDACTED if _is_secret_field(k, v) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return _no_nul(value)


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
    event = _audit_event(
        actor=actor, action=action, target=target, target_type=target_type, target_id=target_id, outcome=outcome,
        metadata=metadata,
    )  # fmt: skip
    _insert(event)
    return event


# database alias -> (INSERT ... RETURNING id, the fields in its column order); see _insert.
_insert_plans: dict[str, tuple[str, list[models.Field]]] = {}


def _insert(event: AuditEvent) -> None:
    """What event.save(force_insert=True) does, with the statement built once per database.

    An audited call (every MCP tools/call) spent a third of its insert compiling the same
    INSERT again (bench/audit_insert_bench.py). The values go through each field's own
    get_db_prep_save, as the ORM's compiler does; AuditEvent has no save signals to skip.
    A database that cannot return the new id from the INSERT takes the ORM's path.
    """
    using = router.db_for_write(AuditEvent)
    connection = connections[using]
    if not connection.features.can_return_columns_from_insert:
        event.save(force_insert=True, using=using)
        return
    plan = _insert_plans.get(using)
    if plan is None:
        meta = AuditEvent._meta
        fields = [field for field in meta.local_concrete_fields if not field.primary_key]
        quote = connection.ops.quote_name
        table, pk = quote(meta.db_table), quote(meta.pk.column)
        columns, values = ", ".join(quote(field.column) for field in fields), ", ".join(["%s"] * len(fields))
        # Only the model's own table and column names, quoted; every value is a parameter.
        sql = f"INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING {pk}"  # nosec B608
        plan = _insert_plans[using] = (sql, fields)
    sql, fields = plan
    params = [field.get_db_prep_save(getattr(event, field.attname), connection=connection) for field in fields]
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(sql, params)
        event.pk = cursor.fetchone()[0]
    event._state.adding = False
    event._state.db = using


def audit_record_many(entries: list[dict[str, Any]]) -> list[AuditEvent]:
    """Store several audit events (each given as audit_record's arguments) with one INSERT.

    For a transaction that writes several at once (a chat turn: an event per provider attempt
    and the turn's own): the rows, hashes and context are exactly what audit_record stores.
    """
    return audit_events_store([_audit_event(**entry) for entry in entries])


def audit_event_build(**entry: Any) -> AuditEvent:
    """An unsaved audit event (audit_record's arguments), hashed and stamped now, for audit_events_store.

    Built before the transaction that stores it, the event can be kept outside the database
    (apps.audit.spool) if that transaction fails, and later stored exactly as it was.
    """
    return _audit_event(**entry)


def audit_events_store(events: list[AuditEvent]) -> list[AuditEvent]:
    """Store built audit events with one INSERT (inside the caller's transaction)."""
    return AuditEvent.objects.bulk_create(events) if events else []


def _audit_event(
    *,
    actor: Any | None,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: Any = "",
    outcome: str = AuditEvent.Outcome.SUCCESS,
    metadata: dict[str, Any] | None = None,
) -> AuditEvent:
    """An unsaved audit event with its row hash."""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
    ctx = current_request_context()
    user = actor if getattr(actor, "is_authenticated", False) else None
    # Through JSON once, so the hash is taken over exactly what the database will hand back.
    clean = json.loads(json.dumps(_scrub(metadata or {}), default=str))
    fields = {
        "actor_username": getattr(user, "username", "") or "",
        "action": action,
        "target_type": target_type,
        "target_id": _no_nul("" if target_id is None else str(target_id))[:64],
        "outcome": outcome,
        "request_id": ctx.request_id,
        "client_ip": ctx.client_ip,
        "metadata": clean,
        "created_at": timezone.now(),
    }
    return AuditEvent(actor=user, row_hash=row_hash(**fields), **fields)


def audit_limit_hit(*, user, limit: str, scope: str = "", metadata: dict[str, Any] | None = None) -> AuditEvent:
    """Record that a rate limit or quota refused something (action ``limit.hit``, outcome denied).

    ``limit`` names the limit ("chat_turns_per_minute", "monthly_tokens" ...), ``scope`` what it
    counts (user, provider, operator key ...). Call it in the refusing request's transaction.
    """
    return audit_record(
        actor=user,
        action="limit.hit",
        target_type="limit",
        target_id=limit,
        outcome=AuditEvent.Outcome.DENIED,
        metadata={"limit": limit, "scope": scope, **(metadata or {})},
    )


def usage_record(*, user, provider: str, model: str, input_tokens: int, output_tokens: int, cost, **extra):
    """Store the usage of one model call (inside the caller's transaction)."""
    record = _usage(user=user, provider=provider, model=model, input_tokens=input_tokens, output_tokens=output_tokens,
                    cost=cost, **extra)  # fmt: skip
    record.save(force_insert=True)
    return record


def usage_record_many(entries: list[dict[str, Any]]) -> list:
    """Store the usage of several model calls (each given as usage_record's arguments) with one INSERT."""
    return usage_records_store([usage_record_build(**entry) for entry in entries])


def usage_record_build(**entry: Any):
    """An unsaved usage record (usage_record's arguments), for usage_records_store or the spool."""
    return _usage(**entry)


def usage_records_store(records: list) -> list:
    """Store built usage records with one INSERT (inside the caller's transaction)."""
    from apps.audit.models import UsageRecord

    return UsageRecord.objects.bulk_create(records) if records else []


def _usage(*, user, provider: str, model: str, input_tokens: int, output_tokens: int, cost, **extra):
    from apps.audit.models import UsageRecord

    return UsageRecord(
        user=user,
        provider=provider,
        model=model,
        input_tokens=max(int(input_tokens), 0),
        output_tokens=max(int(output_tokens), 0),
        cost=cost,
        **extra,
    )
