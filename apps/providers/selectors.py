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
    from apps.keys.selectors import provider_key_usable_for

    return not provider.needs_key or provider_key_usable_for(user=user, provider=provider) is not None


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


def provider_fallback_chain(*, user, first: ProviderConfig) -> list[ProviderConfig]:
    """Providers to try after ``first`` fails: other enabled ones the user can use, offline last."""
    chain = [
        p
        for p in provider_enabled_list()
        if p.pk != first.pk and p.kind != ProviderKind.OFFLINE and _has_usable_key(user, p)
    ]
    if first.kind != ProviderKind.OFFLINE:
        chain.append(provider_offline())
    return chain
