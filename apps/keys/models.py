"""Personal access tokens (stored only as a hash) and provider API keys (stored encrypted)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AccessToken(models.Model):
    """A bearer token for the API and MCP: `tda_<key_id>_<secret>`, of which only key_id and a hash are kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def prefix(self) -> str:
        return f"tda_{self.key_id}"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class ProviderKey(models.Model):
    """A user's API key for a provider, sealed with AES-256-GCM; only the last 4 characters are kept in clear.

    A key with no owner is an operator key: entered by staff in the admin, used for users without
    a key of their own where the provider allows it (always under the per-user limit policy), and
    for the scheduled health probe.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        INVALID = "invalid", "Invalid"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_keys", null=True, blank=True,
        help_text="Blank: an operator key.",
    )
    provider = models.ForeignKey("providers.ProviderConfig", on_delete=models.PROTECT, related_name="keys")
    label = models.CharField(max_length=100, blank=True)
    ciphertext = models.BinaryField(editable=False, default=bytes)
    master_key_id = models.CharField(max_length=32, blank=True, editable=False)
    last4 = models.CharField(max_length=4, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_detail = models.CharField(max_length=300, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_validated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "provider", "status"], name="pkey_owner_provider_status_idx")]

    def __str__(self) -> str:
        # The provider's name, not its database id ("openai: work laptop (…0042)").
        return f"{self.provider.name}: {self.label or 'key'} (…{self.last4})"

    @property
    def masked(self) -> str:
        return f"…{self.last4}"

    @property
    def is_operator(self) -> bool:
        return self.owner_id is None

    def associated_data(self) -> bytes:
        """Binds a ciphertext to its owner, provider and purpose: copied to another row, it will not open.

        Operator keys have their own purpose string, so a user's ciphertext can never pass as one."""
        if self.owner_id is None:
            return f"todoassist/operator-key/v1|provider={self.provider_id}".encode()
        return f"todoassist/provider-key/v1|owner={self.owner_id}|provider={self.provider_id}".encode()

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class OperatorKey(ProviderKey):
    """Operator keys (no owner) in their own admin page: write-only, last 4 shown."""

    class Meta:
        proxy = True
        verbose_name = "operator key"
        verbose_name_plural = "operator keys"
