"""Reads of provider configs and a user's provider preference."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.localcache import MISS, GenerationCache
from apps.core.request_context import request_memo
from apps.providers.models import CachePreference, ProviderConfig, ProviderKind, ProviderPreference

# What a chat turn reads to pick its route, per process: the enabled providers with the
# operator's usable keys (one entry for everyone), and per user their provider choice, their
# answer-cache choice and their active keys. Four to six queries a turn otherwise. Bumped on every
# save or delete of a provider, a provider key, a provider or cache preference
# (apps.providers.signals), so an operator's change in the admin applies on the next turn in
# every process. Key expiry is checked on every use, and the key itself is read again (status,
# ciphertext) when it is opened for the call, so a revoked key is never used.
route_inputs_cache = GenerationCache("provider_routes", ttl_setting="PROVIDER_ROUTE_CACHE_SECONDS")

_KeyChoices = tuple[tuple[int, datetime | None], ...]  # (key id, expires at), newest first


@dataclass(frozen=True)
class _Everyone:
    enabled: tuple[ProviderConfig, ...]  # fallback order
    operator_keys: dict[int, _KeyChoices]  # provider id -> the operator's active keys


@dataclass(frozen=True)
class _Own:
    preference: tuple[int, str] | None  # (provider id, model)
    keys: dict[int, _KeyChoices]  # provider id -> the user's active keys
    answer_cache: bool


def _newest_usable(choices: _KeyChoices, now: datetime) -> int | None:
    return next((key_id for key_id, expires_at in choices if expires_at is None or expires_at > now), None)


@dataclass(frozen=True)
class RouteInputs:
    """The rows a turn's route is made from; shared between threads: read it, never change it."""

    everyone: _Everyone
    own: _Own

    @property
    def enabled(self) -> tuple[ProviderConfig, ...]:
        return self.everyone.enabled

    @property
    def answer_cache(self) -> bool:
        return self.own.answer_cache

    def key_ids(self) -> dict[int, int]:
        """provider id -> the user's newest usable key (as provider_key_usable_for chooses it)."""
        now = timezone.now()
        found = {provider_id: _newest_usable(choices, now) for provider_id, choices in self.own.keys.items()}
        return {provider_id: key_id for provider_id, key_id in found.items() if key_id is not None}

    def operator_key_id(self, provider: ProviderConfig) -> int | None:
        """The operator's newest usable key for this provider (operator_key_usable_for)."""
        return _newest_usable(self.everyone.operator_keys.get(provider.pk, ()), timezone.now())

    def usable(self, provider: ProviderConfig, key_ids: dict[int, int]) -> bool:
        """_has_usable_key, from these rows."""
        if not provider.needs_key or provider.pk in key_ids:
            return True
        return bool(provider.operator_key_for_users and self.operator_key_id(provider) is not None)


def _key_choices(rows) -> dict[int, _KeyChoices]:
    choices: dict[int, list[tuple[int, datetime | None]]] = {}
    for provider_id, key_id, expires_at in rows:
        choices.setdefault(provider_id, []).append((key_id, expires_at))
    return {provider_id: tuple(keys) for provider_id, keys in choices.items()}


def _active_keys(**owner) -> dict[int, _KeyChoices]:
    from apps.keys.models import ProviderKey

    return _key_choices(
        ProviderKey.objects.filter(status=ProviderKey.Status.ACTIVE, **owner)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .order_by("provider_id", "-created_at", "-id")  # the order provider_keys_usable chooses by
        .values_list("provider_id", "pk", "expires_at")
    )


def route_inputs(*, user) -> RouteInputs:
    """The rows a route is made from, from this process's copy while none of them changed
    (read once per request)."""
    memo = request_memo()
    memo_key = f"providers.route_inputs:{user.pk}"
    if memo is not None and memo_key in memo:
        return memo[memo_key]
    generation = route_inputs_cache.generation()  # before the database reads: a change after them bumps it
    everyone = route_inputs_cache.get("everyone", generation)
    if everyone is MISS:
        everyone = _Everyone(enabled=tuple(provider_enabled_list()), operator_keys=_active_keys(owner__isnull=True))
        route_inputs_cache.put("everyone", everyone, generation)
    own = route_inputs_cache.get(f"user:{user.pk}", generation)
    if own is MISS:
        preference = ProviderPreference.objects.filter(user=user).values_list("provider_id", "model").first()
        own = _Own(preference=preference, keys=_active_keys(owner=user), answer_cache=answer_cache_allowed(user=user))
        route_inputs_cache.put(f"user:{user.pk}", own, generation)
    inputs = RouteInputs(everyone=everyone, own=own)
    if memo is not None:
        memo[memo_key] = inputs
    return inputs


def provider_enabled_list() -> QuerySet[ProviderConfig]:
    return ProviderConfig.objects.filter(enabled=True).order_by("fallback_order", "name")


def provider_offline() -> ProviderConfig:
    """The offline provider: always there, even if an operator disabled or deleted its row."""
    provider = ProviderConfig.objects.filter(kind=ProviderKind.OFFLINE).order_by("-enabled", "fallback_order").first()
    if provider is None:
        provider = ProviderConfig(name="offline", kind=ProviderKind.OFFLINE, model_names=["offline-rules"])
        provider.default_model = "offline-rules"
    return provider


def _has_usable_key(user, provider: ProviderConfig) -> bool:
    """The user has a usable key of their own, or may use the operator's key for this provider."""
    from apps.keys.selectors import provider_key_usable_for

    return (
        not provider.needs_key
        or provider_key_usable_for(user=user, provider=provider) is not None
        or _operator_key_available(provider)
    )


def _operator_key_available(provider: ProviderConfig) -> bool:
    from apps.keys.selectors import operator_key_usable_for

    return bool(provider.needs_key and provider.operator_key_for_users and operator_key_usable_for(provider=provider))


def _own_key(user, provider: ProviderConfig) -> bool:
    from apps.keys.selectors import provider_key_usable_for

    return provider.needs_key and provider_key_usable_for(user=user, provider=provider) is not None


def providers_for_user(*, user) -> list[dict]:
    """Enabled providers with their models, whether this user has a usable key for each, and health."""
    from apps.providers.health import provider_health

    return [
        {
            "name": p.name,
            "display_name": str(p),
            "kind": p.kind,
            "models": list(p.model_names),
            "default_model": p.default_model,
            "has_usable_key": _has_usable_key(user, p),
            # True when the user has no key of their own but may chat through the operator's key
            "operator_key": not _own_key(user, p) and _operator_key_available(p),
            "health": provider_health(p),
        }
        for p in provider_enabled_list()
    ]


def provider_preference_get(*, user) -> tuple[ProviderConfig, str]:
    """The user's chosen provider and model; with no (usable) choice, the first provider they can use."""
    preference = ProviderPreference.objects.select_related("provider").filter(user=user).first()
    if preference is not None and preference.provider.enabled:
        return preference.provider, preference.model
    for provider in provider_enabled_list():
        if provider.kind != ProviderKind.OFFLINE and _has_usable_key(user, provider):
            return provider, provider.default_model
    offline = provider_offline()
    return offline, offline.default_model


def provider_preference_for_turn(*, user, inputs: RouteInputs | None = None) -> tuple[ProviderConfig, str]:
    """provider_preference_get from the route's rows (route_inputs): what a chat turn starts with."""
    inputs = inputs or route_inputs(user=user)
    if inputs.own.preference is not None:
        provider_id, model = inputs.own.preference
        chosen = next((p for p in inputs.enabled if p.pk == provider_id), None)  # None: disabled or gone
        if chosen is not None:
            return chosen, model
    key_ids = inputs.key_ids()
    for provider in inputs.enabled:
        if provider.kind != ProviderKind.OFFLINE and inputs.usable(provider, key_ids):
            return provider, provider.default_model
    offline = next((p for p in inputs.enabled if p.kind == ProviderKind.OFFLINE), None) or provider_offline()
    return offline, offline.default_model


def provider_fallback_chain(*, first: ProviderConfig, inputs: RouteInputs) -> list[ProviderConfig]:
    """Providers to try after ``first`` fails: other enabled ones the user can use, offline last
    (from the route's rows, route_inputs)."""
    key_ids = inputs.key_ids()
    enabled = inputs.enabled
    chain = [p for p in enabled if p.pk != first.pk and p.kind != ProviderKind.OFFLINE and inputs.usable(p, key_ids)]
    if first.kind != ProviderKind.OFFLINE:
        # The enabled offline provider with the lowest fallback order is provider_offline()'s
        # answer too; read it again only when none is enabled.
        chain.append(next((p for p in enabled if p.kind == ProviderKind.OFFLINE), None) or provider_offline())
    return chain


def answer_cache_allowed(*, user) -> bool:
    """Whether the user lets their turns be answered from the answer cache (yes unless they turned it off)."""
    value = CachePreference.objects.filter(user=user).values_list("answer_cache", flat=True).first()
    return True if value is None else bool(value)
