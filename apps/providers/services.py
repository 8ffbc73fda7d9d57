"""Narrow entry points other apps use to reach a provider."""

from __future__ import annotations

from apps.keys.secret import Secret
from apps.providers.adapters import get_adapter
from apps.providers.models import ProviderConfig

KEY_CHECK_TIMEOUT_SECONDS = 15


def provider_key_check(*, provider: ProviderConfig, secret: Secret, timeout: float = KEY_CHECK_TIMEOUT_SECONDS) -> None:
    """One cheap authenticated call (list models); raises ProviderError when the provider refuses or fails."""
    get_adapter(provider.kind).validate_key(
        api_key=secret.reveal(),
        base_url=provider.base_url,
        timeout=min(provider.timeout_seconds, timeout),
    )


def provider_preference_set(*, user, provider_name: str, model: str | None = None):
    """Choose the provider and model for the user's next turns."""
    from django.db import transaction

    from apps.audit.services import audit_record
    from apps.core.errors import ValidationFailed
    from apps.providers.models import ProviderPreference

    provider = ProviderConfig.objects.filter(name=provider_name, enabled=True).first()
    if provider is None:
        raise ValidationFailed(
            f"Unknown or disabled provider {provider_name!r}.",
            extra={"fields": {"provider": ["Unknown or disabled provider."]}},
        )
    model = model or provider.default_model
    if provider.model_names and model not in provider.model_names:
        raise ValidationFailed(
            f"{provider} does not offer the model {model!r}.",
            extra={"fields": {"model": [f"Choose one of: {', '.join(provider.model_names)}."]}},
        )
    with transaction.atomic():
        preference, _ = ProviderPreference.objects.update_or_create(
            user=user, defaults={"provider": provider, "model": model}
        )
        audit_record(
            actor=user, action="provider_preference.set", target=preference, metadata={"provider": provider.name, "model": model}
        )
    return preference
