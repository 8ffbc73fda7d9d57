"""Provider configurations that operators manage in the admin."""

import ipaddress
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"
    OFFLINE = "offline", "Offline (rule-based, no network)"


BASE_URL_PERMISSION = "providers.change_provider_base_url"
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower().rstrip(".")
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_provider_base_url(value: str) -> None:
    """Users' decrypted keys go to this URL: https only, http to a loopback host or when a setting allows it."""
    if not value:
        return
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        raise ValidationError("Enter a valid URL.", code="invalid") from None
    if parts.username is not None or parts.password is not None:
        raise ValidationError("Put no credentials in a base URL: each user's own key is sent.", code="credentials")
    scheme = parts.scheme.lower()
    if scheme == "https":
        return
    if scheme == "http" and (_is_loopback(host) or settings.PROVIDER_BASE_URL_ALLOW_HTTP):
        return
    if scheme == "http":
        raise ValidationError(
            "Plain http sends users' keys unencrypted: use https (http is allowed only to a loopback host, "
            "or everywhere with PROVIDER_BASE_URL_ALLOW_HTTP).",
            code="insecure_scheme",
        )
    raise ValidationError(f"A base URL must be https, not {scheme or 'schemeless'}.", code="invalid_scheme")


class AnswerCacheMode(models.TextChoices):
    OFF = "off", "Never"
    TEMPERATURE_ZERO = "temperature_zero", "Calls at temperature 0"
    ALWAYS = "always", "Every call"


class ProviderConfig(models.Model):
    name = models.SlugField(max_length=50, unique=True, validators=[RegexValidator(r"^[a-z0-9][a-z0-9_-]*$")])
    display_name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=32, choices=ProviderKind.choices)
    base_url = models.URLField(
        blank=True,
        validators=[validate_provider_base_url],
        help_text=(
            "Blank uses the SDK default (which honours OPENAI_BASE_URL / ANTHROPIC_BASE_URL). Users' keys are sent "
            "here: https only (http to a loopback host)."
        ),
    )
    model_names = models.JSONField(
        "models", default=list, blank=True, help_text='Model names offered to users, e.g. ["gpt-4o-mini"].'
    )
    default_model = models.CharField(max_length=100, blank=True)
    price_input_per_million = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    price_output_per_million = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    timeout_seconds = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1), MaxValueValidator(600)])
    enabled = models.BooleanField(default=True)
    answer_cache = models.CharField(
        max_length=20,
        choices=AnswerCacheMode.choices,
        default=AnswerCacheMode.TEMPERATURE_ZERO,
        help_text="Which calls' answers are kept and reused for the same user and the same input (README: The cache).",
    )
    answer_cache_ttl_seconds = models.PositiveIntegerField(
        "answer cache TTL (seconds)", default=600, validators=[MinValueValidator(1), MaxValueValidator(7 * 86400)]
    )
    fallback_order = models.PositiveIntegerField(
        default=100, help_text="Lower comes first when a provider fails and the chat falls over to another."
    )
    # Limits for all traffic to this provider (blank = none); see apps/limits. Exceeded: the provider is skipped.
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True, help_text="Model calls per minute (sliding window).")
    tokens_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Input + output tokens per minute (sliding window; reserved before each call)."
    )
    tokens_per_day = models.PositiveBigIntegerField(null=True, blank=True, help_text="Input + output tokens per UTC day.")
    cost_per_month = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="Spend per calendar month, from the prices above."
    )
    operator_key_for_users = models.BooleanField(
        "users without a key may use the operator key",
        default=False,
        help_text="Users without their own key chat through the operator's key, always under the per-user policy.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["fallback_order", "name"]
        permissions = [("change_provider_base_url", "Can change a provider's base URL (where users' keys are sent)")]

    def __str__(self) -> str:
        return self.display_name or self.name

    @property
    def needs_key(self) -> bool:
        return self.kind != ProviderKind.OFFLINE

    def clean(self) -> None:
        if not isinstance(self.model_names, list) or not all(isinstance(m, str) and m for m in self.model_names):
            raise ValidationError({"model_names": "A list of model names."})
        if self.default_model and self.model_names and self.default_model not in self.model_names:
            raise ValidationError({"default_model": "Must be one of the listed models."})
        if self.kind == ProviderKind.OPENAI_COMPATIBLE and not self.base_url:
            raise ValidationError({"base_url": "An OpenAI-compatible provider needs a base URL."})


class ProviderPreference(models.Model):
    """The provider and model a user chats with; applies from their next turn."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_preference")
    provider = models.ForeignKey(ProviderConfig, on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=100)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.provider_id}/{self.model}"


class CachePreference(models.Model):
    """Whether a user's chat turns may be answered from the answer cache (default: yes)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cache_preference")
    answer_cache = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id}: answer cache {'on' if self.answer_cache else 'off'}"
