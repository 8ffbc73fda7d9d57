"""Reads of provider configs and a user's provider preference."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.providers.models import ProviderConfig, ProviderKind, ProviderPreference


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


def provider_fallback_chain(*, user, first: ProviderConfig, usable_keys: dict[int, int] | None = None) -> list[ProviderConfig]:
    """Providers to try after ``first`` fails: other enabled ones the user can use, offline last.

    ``usable_keys`` (provider id -> key id, from provider_key_ids_usable) saves a query per provider.
    """

    def usable(p: ProviderConfig) -> bool:
        if usable_keys is None:
            return _has_usable_key(user, p)
        return not p.needs_key or p.pk in usable_keys or _operator_key_available(p)

    enabled = list(provider_enabled_list())
    chain = [p for p in enabled if p.pk != first.pk and p.kind != ProviderKind.OFFLINE and usable(p)]
    if first.kind != ProviderKind.OFFLINE:
        # The enabled offline provider with the lowest fallback order is provider_offline()'s
        # answer too; read it again only when none is enabled.
        chain.append(next((p for p in enabled if p.kind == ProviderKind.OFFLINE), None) or provider_offline())
    return chain


def answer_cache_allowed(*, user) -> bool:
    """Whether the user lets their turns be answered from the answer cache (yes unless they turned it off)."""
    from apps.providers.models import CachePreference

    value = CachePreference.objects.filter(user=user).values_list("answer_cache", flat=True).first()
    return True if value is None else bool(value)
