"""Limit policies the admin edits, and the daily usage roll-up."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


class UserPolicy(models.Model):
    """Per-user limits. The row without a user is the default; a user's own row wins over it (as a whole).

    Blank means no limit. Token and cost quotas count per provider and calendar month (UTC).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="limit_policy",
        help_text="Blank: the default policy for every user without a row of their own.",
    )
    tokens_per_month = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Input + output tokens per provider and calendar month."
    )
    cost_per_month = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))],
        help_text="Spend per provider and calendar month, from the providers' prices.",
    )
    mcp_calls_per_minute = models.PositiveIntegerField(null=True, blank=True, help_text="MCP tools/call per minute.")
    api_writes_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="REST writes (POST, PUT, PATCH, DELETE) and chat turns per minute."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "user limit policy"
        verbose_name_plural = "user limit policies"

    def __str__(self) -> str:
        return f"limits for {self.user}" if self.user_id else "default limits"


class UsageRollup(models.Model):
    """Usage per user, provider and UTC day, rebuilt from the usage rows by the reconcile task."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=50)
    day = models.DateField()
    calls = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day", "provider"]
        constraints = [models.UniqueConstraint(fields=["user", "provider", "day"], name="limits_rollup_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.provider} {self.day}"
