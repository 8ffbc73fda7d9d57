"""Narrow entry points other apps use to reach a provider."""

from __future__ import annotations

from apps.keys.secret import Secret
from apps.providers.adapters import get_adapter
from apps.providers.models import ProviderConfig

KEY_CHECK_TIMEOUT_SECONDS = 15


def provider_key_check(*, provider: ProviderConfig, secret: Secret) -> None:
    """One cheap authenticated call (list models); raises ProviderError when the provider refuses or fails."""
    get_adapter(provider.kind).validate_key(
        api_key=secret.reveal(),
        base_url=provider.base_url,
        timeout=min(provider.timeout_seconds, KEY_CHECK_TIMEOUT_SECONDS),
    )
