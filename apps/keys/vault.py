"""Provider API keys: sealing, the one function that opens a key for a provider call, rotation, revocation."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import ApplicationError, NotFound, ValidationFailed
from apps.keys import crypto
from apps.keys.models import ProviderKey
from apps.keys.secret import Secret
from apps.keys.selectors import provider_key_get, provider_key_usable_for, provider_keys_lapsed, provider_model

logger = logging.getLogger(__name__)

KEY_MIN_LENGTH = 8
KEY_MAX_LENGTH = 512
LABEL_MAX_LENGTH = 100
# Keys are opaque tokens: printable ASCII with no spaces (this also keeps them out of headers injection).
_KEY_RE = re.compile(r"^[\x21-\x7e]+$")
ROTATE_BATCH_SIZE = 200


class ProviderKeyUnusable(ApplicationError):
    """A stored key cannot be used (no key, expired, invalid, or its ciphertext will not open)."""

    status_code = 409
    default_code = "provider_key_unusable"
    default_message = "No usable key for this provider."


@dataclass(frozen=True)
class OpenedKey:
    """A key opened for one provider call. ``secret`` hides the plaintext from repr, logs and pickling."""

    key_id: int
    provider_id: int
    last4: str
    secret: Secret


def _clean_key_text(key: object) -> str:
    if not isinstance(key, str):
        raise ValidationFailed("The key must be a string.", extra={"fields": {"key": ["Must be a string."]}})
    key = key.strip()
    if not KEY_MIN_LENGTH <= len(key) <= KEY_MAX_LENGTH or not _KEY_RE.match(key):
        message = f"The key must be {KEY_MIN_LENGTH}–{KEY_MAX_LENGTH} printable characters without spaces."
        raise ValidationFailed(message, extra={"fields": {"key": [message]}})
    return key


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= timezone.now():
        message = "The expiry date is in the past; a key that has already expired cannot be stored."
        raise ValidationFailed(message, extra={"fields": {"expires_at": [message]}})


def _clean_label(label: object) -> str:
    if label is None:
        return ""
    if not isinstance(label, str):
        raise ValidationFailed("The label must be a string.", extra={"fields": {"label": ["Must be a string."]}})
    label = label.strip()
    if len(label) > LABEL_MAX_LENGTH or "\x00" in label:
        message = f"The label must be at most {LABEL_MAX_LENGTH} characters."
        raise ValidationFailed(message, extra={"fields": {"label": [message]}})
    return label


def _provider_for_keys(provider_name: str):
    # Reached through the foreign key, not imported: `keys` is the lower layer and never
    # imports `providers` code (providers open keys, not the other way round).
    provider = provider_model().objects.filter(name=provider_name, enabled=True).first()
    if provider is None:
        raise ValidationFailed(
            f"Unknown or disabled provider {provider_name!r}.",
            extra={"fields": {"provider": ["Unknown or disabled provider."]}},
        )
    if not provider.needs_key:
        raise ValidationFailed(
            f"The {provider.name} provider does not use keys.",
            extra={"fields": {"provider": ["This provider does not use keys."]}},
        )
    return provider


@transaction.atomic
def provider_key_create(
    *, user, provider_name: str, key: str, label: str = "", expires_at: datetime | None = None
) -> ProviderKey:
    """Store a user's provider key sealed under the newest master key; the plaintext is never returned."""
    provider = _provider_for_keys(provider_name)
    plaintext = _clean_key_text(key)
    _check_expiry(expires_at)
    label = _clean_label(label) or provider.name
    record = ProviderKey(owner=user, provider=provider, label=label, last4=plaintext[-4:], expires_at=expires_at)
    try:
        record.master_key_id, record.ciphertext = crypto.seal(plaintext, aad=record.associated_data())
    except crypto.NoMasterKey:
        raise ApplicationError(
            "Key storage is not configured on this server.", code="vault_not_configured"
        ) from None
    record.save()
    audit_record(
        actor=user,
        action="provider_key.create",
        target=record,
        metadata={"provider": provider.name, "key_last4": record.last4, "master_key_id": record.master_key_id},
    )
    return record


@transaction.atomic
def provider_key_update_label(*, user, key_id: int, label: str) -> ProviderKey:
    provider_key_get(user=user, key_id=key_id)  # 404 for another user's key before taking a lock
    record = ProviderKey.objects.select_for_update().get(pk=key_id)
    new_label = _clean_label(label) or record.provider.name
    if new_label != record.label:
        record.label = new_label
        record.save(update_fields=["label", "updated_at"])
        audit_record(actor=user, action="provider_key.update", target=record, metadata={"fields": ["label"]})
    return record


def _revoke_locked(record: ProviderKey, *, actor, reason: str, action: str = "provider_key.revoke") -> bool:
    if record.status == ProviderKey.Status.REVOKED and not record.ciphertext:
        return False
    record.status = ProviderKey.Status.REVOKED
    record.status_detail = f"Revoked ({reason})."
    record.ciphertext = b""  # wiped: a revoked key can never be opened again
    record.master_key_id = ""
    record.save(update_fields=["status", "status_detail", "ciphertext", "master_key_id", "updated_at"])
    audit_record(
        actor=actor,
        action=action,
        target=record,
        metadata={"reason": reason, "owner": record.owner.username if record.owner_id else "(operator)",
                  "key_last4": record.last4},
    )
    return True


@transaction.atomic
def provider_key_delete(*, user, key_id: int) -> None:
    """The user deletes a key: it is revoked and its ciphertext wiped; the row stays for the audit trail."""
    provider_key_get(user=user, key_id=key_id)
    record = ProviderKey.objects.select_for_update(of=("self",)).select_related("owner").get(pk=key_id)
    _revoke_locked(record, actor=user, reason="deleted by owner", action="provider_key.delete")


def provider_keys_revoke(*, queryset, actor, reason: str) -> int:
    """Breach response: revoke and wipe every key in the queryset, each in its own short transaction."""
    count = 0
    for key_id in list(queryset.values_list("pk", flat=True)):
        with transaction.atomic():
            record = ProviderKey.objects.select_for_update(of=("self",)).select_related("owner").filter(pk=key_id).first()
            if record is not None and _revoke_locked(record, actor=actor, reason=reason):
                count += 1
    return count


def _open(record: ProviderKey) -> Secret:
    """The one place a stored key's plaintext is produced."""
    try:
        return Secret(crypto.unseal(record.ciphertext, master_key_id=record.master_key_id, aad=record.associated_data()))
    except crypto.UnknownMasterKey as exc:
        logger.warning("provider key %s: master key %r is not configured", record.pk, exc.master_key_id)
        raise ProviderKeyUnusable(
            f"Provider key {record.pk} cannot be opened: its master key {exc.master_key_id!r} is not configured.",
            extra={"key_id": record.pk, "reason": "unknown_master_key"},
        ) from None
    except crypto.CiphertextInvalid:
        logger.warning("provider key %s: ciphertext failed authentication", record.pk)
        raise ProviderKeyUnusable(
            f"Provider key {record.pk} cannot be opened: its ciphertext is damaged or belongs to another key.",
            extra={"key_id": record.pk, "reason": "ciphertext_invalid"},
        ) from None


def _touch(record: ProviderKey) -> None:
    """Record the key's use, at most once per interval (each call is in the audit trail anyway)."""
    now = timezone.now()
    interval = settings.PROVIDER_KEY_TOUCH_INTERVAL_SECONDS
    if record.last_used_at is not None and (now - record.last_used_at).total_seconds() < interval:
        return
    ProviderKey.objects.filter(pk=record.pk).update(last_used_at=now)


def provider_key_open(*, user, provider=None, key_id: int | None = None) -> OpenedKey:
    """Open a key for one provider call: the user's newest usable key for ``provider``, or key ``key_id``.

    Usable means active and not expired (see provider_key_usable_for); keys found lapsed on
    the way are marked expired, so the keys page says why they are no longer used.
    The plaintext exists only inside the returned Secret, for as long as the caller holds it.
    """
    if key_id is not None:
        record = ProviderKey.objects.select_related("provider").filter(owner=user, pk=key_id).first()
        if record is None:
            raise NotFound("Provider key not found.", code="provider_key_not_found", extra={"key_id": key_id})
    else:
        for lapsed_id in provider_keys_lapsed(user=user, provider=provider):
            provider_key_mark(key_id=lapsed_id, status=ProviderKey.Status.EXPIRED, detail="The key has expired.")
        record = provider_key_usable_for(user=user, provider=provider)
        if record is None:
            raise ProviderKeyUnusable(
                f"You have no usable key for {provider}. Add one under Settings → Keys.",
                extra={"provider": getattr(provider, "name", None)},
            )
    if record.status == ProviderKey.Status.REVOKED:
        raise ProviderKeyUnusable(f"Provider key {record.pk} was revoked.", extra={"key_id": record.pk})
    if record.is_expired:
        provider_key_mark(key_id=record.pk, status=ProviderKey.Status.EXPIRED, detail="The key has expired.")
        raise ProviderKeyUnusable(f"Provider key {record.pk} has expired.", extra={"key_id": record.pk})
    secret = _open(record)
    _touch(record)
    return OpenedKey(key_id=record.pk, provider_id=record.provider_id, last4=record.last4, secret=secret)


@transaction.atomic
def provider_key_mark(*, key_id: int, status: str, detail: str = "", validated: bool = False, actor=None) -> bool:
    """Record what is known about a key (validation result, provider refusal, expiry).

    Locks the row and never touches a revoked key, so a slow validation finishing after a
    delete cannot bring the key back (EC5). Returns whether anything changed.
    """
    # of=self: an operator key has no owner (an outer join PostgreSQL will not lock the nullable side of)
    record = (
        ProviderKey.objects.select_for_update(of=("self",)).select_related("owner", "provider").filter(pk=key_id).first()
    )
    if record is None or record.status == ProviderKey.Status.REVOKED:
        return False
    fields = ["status", "status_detail", "updated_at"]
    previous = record.status
    record.status, record.status_detail = status, detail[:300]
    if validated:
        record.last_validated_at = timezone.now()
        fields.append("last_validated_at")
    record.save(update_fields=fields)
    if previous != status or validated:
        audit_record(
            actor=actor or record.owner,
            action="provider_key.validate" if validated else f"provider_key.{status}",
            target=record,
            outcome="success" if status == ProviderKey.Status.ACTIVE else "failure",
            metadata={"status": status, "previous": previous, "provider": record.provider.name},
        )
    return True


@dataclass
class RotationReport:
    rotated: int = 0
    current: int = 0
    failed: list[int] | None = None

    def __post_init__(self):
        self.failed = self.failed or []


def provider_key_rotate_one(*, key_id: int) -> str:
    """Re-seal one key under the newest master key: 'rotated', 'current', 'skipped' or 'failed'."""
    newest = crypto.newest_master_key_id()
    with transaction.atomic():
        record = ProviderKey.objects.select_for_update().filter(pk=key_id).first()
        if record is None or record.status == ProviderKey.Status.REVOKED or not record.ciphertext:
            return "skipped"
        if record.master_key_id == newest:
            return "current"
        try:
            plaintext = crypto.unseal(record.ciphertext, master_key_id=record.master_key_id, aad=record.associated_data())
        except crypto.SealError as exc:
            logger.warning("rotate: provider key %s cannot be opened: %s", record.pk, exc)
            return "failed"
        old = record.master_key_id
        record.master_key_id, record.ciphertext = crypto.seal(plaintext, aad=record.associated_data())
        del plaintext
        record.save(update_fields=["master_key_id", "ciphertext", "updated_at"])
        audit_record(
            actor=None,
            action="provider_key.rotate",
            target=record,
            metadata={"from_master_key_id": old, "master_key_id": record.master_key_id},
        )
        return "rotated"


def provider_keys_rotate(*, batch_size: int = ROTATE_BATCH_SIZE) -> RotationReport:
    """Re-seal every key not yet under the newest master key, in batches of short row-locked transactions."""
    report = RotationReport()
    newest = crypto.newest_master_key_id()
    last_id = 0
    while True:
        ids = list(
            ProviderKey.objects.filter(pk__gt=last_id)
            .exclude(status=ProviderKey.Status.REVOKED)
            .order_by("pk")
            .values_list("pk", "master_key_id")[:batch_size]
        )
        if not ids:
            break
        for key_id, master_key_id in ids:
            if master_key_id == newest:
                report.current += 1
                continue
            outcome = provider_key_rotate_one(key_id=key_id)
            if outcome == "rotated":
                report.rotated += 1
            elif outcome == "current":
                report.current += 1
            elif outcome == "failed":
                report.failed.append(key_id)
        last_id = ids[-1][0]
    return report


# --- operator keys (no owner) ---------------------------------------------------------------


@transaction.atomic
def operator_key_create(*, actor, provider_name: str, key: str, label: str = "",
                        expires_at: datetime | None = None) -> ProviderKey:
    """Store an operator key (staff, in the admin), sealed with its own associated data; never returned."""
    provider = _provider_for_keys(provider_name)
    plaintext = _clean_key_text(key)
    _check_expiry(expires_at)
    label = _clean_label(label) or f"operator {provider.name}"
    record = ProviderKey(owner=None, provider=provider, label=label, last4=plaintext[-4:], expires_at=expires_at)
    try:
        record.master_key_id, record.ciphertext = crypto.seal(plaintext, aad=record.associated_data())
    except crypto.NoMasterKey:
        raise ApplicationError("Key storage is not configured on this server.", code="vault_not_configured") from None
    record.save()
    audit_record(
        actor=actor,
        action="operator_key.create",
        target=record,
        metadata={"provider": provider.name, "key_last4": record.last4, "master_key_id": record.master_key_id},
    )
    return record


def operator_key_open(*, key_id: int) -> OpenedKey:
    """Open an operator key for one call (the gateway, the health probe)."""
    record = ProviderKey.objects.select_related("provider").filter(owner__isnull=True, pk=key_id).first()
    if record is None:
        raise NotFound("Operator key not found.", code="provider_key_not_found", extra={"key_id": key_id})
    if record.status != ProviderKey.Status.ACTIVE:
        raise ProviderKeyUnusable(f"The operator key for {record.provider} is {record.status}.", extra={"key_id": record.pk})
    if record.is_expired:
        provider_key_mark(key_id=record.pk, status=ProviderKey.Status.EXPIRED, detail="The key has expired.")
        raise ProviderKeyUnusable(f"The operator key for {record.provider} has expired.", extra={"key_id": record.pk})
    secret = _open(record)
    _touch(record)
    return OpenedKey(key_id=record.pk, provider_id=record.provider_id, last4=record.last4, secret=secret)
