"""Reads of access tokens."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from apps.core.localcache import MISS, GenerationCache
from apps.keys.models import AccessToken
from apps.keys.tokens import hash_token, parse_key_id, token_matches

# Verified tokens (with their users) by token hash; bumped when any token or user changes
# (apps.keys.signals). Failed lookups are never kept.
verified_tokens = GenerationCache("access_tokens", ttl_setting="ACCESS_TOKEN_CACHE_SECONDS")


def access_token_list(*, user) -> QuerySet[AccessToken]:
    return AccessToken.objects.filter(user=user)


def access_token_authenticate(*, plaintext: str) -> AccessToken | None:
    """The active token matching this plaintext, with its user, or None. Never says why it failed."""
    key_id = parse_key_id(plaintext)
    if key_id is None:
        return None
    token = AccessToken.objects.select_related("user").filter(key_id=key_id).first()
    if token is None or not token_matches(plaintext, token.token_hash):
        return None
    if not token.is_active or not token.user.is_active:
        return None
    return token


def access_token_verified(*, plaintext: str, generation: str | None) -> AccessToken | None | object:
    """A token this process verified under ``generation`` and that is still active; MISS when it must be read again.

    No database access, so it may run on an event loop when the generation was read there.
    """
    token = verified_tokens.get(hash_token(plaintext), generation)
    if token is MISS:
        return MISS
    return token if token.is_active else None  # expiry is checked on every use


def access_token_authenticate_cached(*, plaintext: str) -> AccessToken | None:
    """access_token_authenticate, answered from this process's copy while no token or user has changed."""
    generation = verified_tokens.generation()  # before the database read: a change after it bumps it
    token = access_token_verified(plaintext=plaintext, generation=generation)
    if token is not MISS:
        return token
    token = access_token_authenticate(plaintext=plaintext)
    if token is not None:
        verified_tokens.put(hash_token(plaintext), token, generation)
    return token


def access_token_needs_touch(token: AccessToken, *, interval_seconds: int) -> bool:
    if token.last_used_at is None:
        return True
    return (timezone.now() - token.last_used_at).total_seconds() >= interval_seconds


def provider_key_list(*, user) -> QuerySet:
    """The user's keys that still exist for them (revoked ones are kept for the audit trail, not shown)."""
    from apps.keys.models import ProviderKey

    return (
        ProviderKey.objects.filter(owner=user)
        .exclude(status=ProviderKey.Status.REVOKED)
        .select_related("provider")
    )


def provider_key_get(*, user, key_id: int):
    from apps.core.errors import NotFound

    key = provider_key_list(user=user).filter(pk=key_id).first()
    if key is None:
        raise NotFound("Provider key not found.", code="provider_key_not_found", extra={"key_id": key_id})
    return key


def provider_model():
    """The provider config model, through ProviderKey's foreign key: `keys` imports no `providers` code."""
    from apps.keys.models import ProviderKey

    return ProviderKey._meta.get_field("provider").related_model


def provider_keys_usable(*, user, provider) -> QuerySet:
    """The user's keys for this provider that may be used now: active and not expired, newest first.

    The order is total (created_at, then id), so the same rows always give the same choice.
    """
    from apps.keys.models import ProviderKey

    now = timezone.now()
    return (
        ProviderKey.objects.filter(owner=user, provider=provider, status=ProviderKey.Status.ACTIVE)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("-created_at", "-id")
    )


def provider_key_usable_for(*, user, provider):
    """The newest usable (active, unexpired) key of the user for this provider, or None."""
    return provider_keys_usable(user=user, provider=provider).first()


def operator_key_usable_for(*, provider):
    """The newest usable operator key (no owner) for this provider, or None."""
    from apps.keys.models import ProviderKey

    now = timezone.now()
    return (
        ProviderKey.objects.filter(owner__isnull=True, provider=provider, status=ProviderKey.Status.ACTIVE)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("-created_at", "-id")
        .only("pk", "provider_id", "last4")
        .first()
    )


def provider_keys_lapsed(*, user, provider) -> list[int]:
    """Ids of the user's keys for this provider still marked active although their expiry has passed."""
    from apps.keys.models import ProviderKey

    return list(
        ProviderKey.objects.filter(
            owner=user, provider=provider, status=ProviderKey.Status.ACTIVE, expires_at__lte=timezone.now()
        ).values_list("pk", flat=True)
    )


def providers_accepting_keys() -> list:
    """Enabled providers a user can store a key for (the offline provider needs none)."""
    return [provider for provider in provider_model().objects.filter(enabled=True) if provider.needs_key]


# A validation asked for longer ago than this, with no result since, is no longer shown as
# "checking" (its task was lost, or the worker is down): the page stops waiting for it.
KEY_CHECKING_WINDOW = timedelta(minutes=5)


def provider_keys_checking(*, user, keys) -> set[int]:
    """Ids of these keys (the user's) whose validation was requested and has no result yet.

    Read from the ``provider_key.validate_requested`` audit event written with each request:
    a result (any outcome, through provider_key_mark) saves the key, so a request newer than
    the key's ``updated_at`` is still waiting for its worker. Revoked and expired keys are never
    checked, so never "checking".
    """
    from apps.audit.models import AuditEvent
    from apps.keys.models import ProviderKey

    keys = [k for k in keys if k.status in (ProviderKey.Status.ACTIVE, ProviderKey.Status.INVALID)]
    if not keys:
        return set()
    requested = dict(
        AuditEvent.objects.filter(
            actor=user,
            action="provider_key.validate_requested",
            target_type=ProviderKey._meta.label_lower,
            target_id__in=[str(k.pk) for k in keys],
            created_at__gte=timezone.now() - KEY_CHECKING_WINDOW,
        )
        .values("target_id")
        .annotate(latest=Max("created_at"))
        .values_list("target_id", "latest")
    )
    return {k.pk for k in keys if (at := requested.get(str(k.pk))) is not None and at > k.updated_at}
