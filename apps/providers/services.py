"""Narrow entry points other apps use to reach a provider."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from apps.audit.services import audit_record
from apps.core.errors import PermissionDenied, ValidationFailed
from apps.keys.secret import Secret
from apps.providers.adapters import get_adapter
from apps.providers.models import BASE_URL_PERMISSION, ProviderConfig

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


# -- provider configs (admin and configure_provider) --------------------------------------------------

AUDITED_FIELDS = (
    "name",
    "display_name",
    "kind",
    "base_url",
    "model_names",
    "default_model",
    "price_input_per_million",
    "price_output_per_million",
    "timeout_seconds",
    "enabled",
    "fallback_order",
)
_SECRETISH_QUERY = re.compile(r"key|token|secret|sig|password|auth", re.I)


def _shown_url(url: str) -> str:
    """A base URL as audit rows show it: query values that look like credentials are masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url[:200]
    if not parts.query:
        return url
    query = urlencode(
        [(k, "[redacted]" if _SECRETISH_QUERY.search(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    )
    return urlunsplit(parts._replace(query=query))


def _raw(provider: ProviderConfig) -> dict[str, Any]:
    return {field: getattr(provider, field) for field in AUDITED_FIELDS}


def _shown(field: str, value: Any) -> Any:
    """A field's value as an audit row stores it (JSON-ready, credentials in a URL masked)."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if field == "base_url":
        return _shown_url(value or "")
    if isinstance(value, list | tuple):
        return list(value)
    return value


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        field: {"before": _shown(field, before.get(field)) if field in before else None, "after": _shown(field, value)}
        for field, value in after.items()
        if field not in before or before[field] != value
    }


def provider_config_save(*, actor, provider: ProviderConfig, source: str) -> dict[str, dict[str, Any]]:
    """Validate and save a new or changed provider config; audit each changed field, before and after.

    A base URL decides where every user's decrypted key for this provider is sent: changing it
    (or creating a provider with one) needs the ``change_provider_base_url`` permission when an
    operator acts (``actor=None`` is a deployment command). Returns the changes recorded.
    """
    created = provider.pk is None
    with transaction.atomic():
        stored = None if created else ProviderConfig.objects.select_for_update().get(pk=provider.pk)
        changes = _changes(_raw(stored) if stored is not None else {}, _raw(provider))
        base_url_changed = (stored.base_url if stored else "") != (provider.base_url or "")
        if base_url_changed and actor is not None and not actor.has_perm(BASE_URL_PERMISSION):
            raise PermissionDenied(
                "Changing a provider's base URL needs the 'change_provider_base_url' permission.",
                extra={"fields": {"base_url": ["Needs the change_provider_base_url permission."]}},
            )
        try:
            # Only what changes is checked: a row saved under older rules stays editable otherwise.
            unchanged = [] if created else [f.name for f in ProviderConfig._meta.fields if f.name not in changes]
            provider.full_clean(exclude=unchanged)
        except DjangoValidationError as exc:
            raise ValidationFailed(
                "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()),
                extra={"fields": exc.message_dict},
            ) from None
        provider.save()
        if changes:
            audit_record(
                actor=actor,
                action="provider_config.create" if created else "provider_config.update",
                target=provider,
                metadata={"fields": sorted(changes), "changes": changes, "source": source},
            )
    return changes


def provider_config_delete(*, actor, provider: ProviderConfig, source: str) -> None:
    """Delete a provider config (refused while keys refer to it); audit what it held."""
    with transaction.atomic():
        pk = provider.pk
        changes = {field: {"before": _shown(field, value), "after": None} for field, value in _raw(provider).items()}
        provider.delete()
        audit_record(
            actor=actor,
            action="provider_config.delete",
            target_type=ProviderConfig._meta.label_lower,
            target_id=pk,
            metadata={"fields": sorted(changes), "changes": changes, "source": source},
        )


def provider_breaker_reset(*, provider: ProviderConfig, actor) -> None:
    """Close a provider's circuit breaker and end its cool-downs now (an operator's decision), audited."""
    from django.db import transaction

    from apps.audit.services import audit_record
    from apps.providers import state

    state.breaker_reset(provider=provider.name)
    with transaction.atomic():
        audit_record(actor=actor, action="provider.breaker_reset", target=provider, metadata={"provider": provider.name})
