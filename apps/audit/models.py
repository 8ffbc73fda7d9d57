"""Audit events: who did what to which object, with what outcome."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """The audit trail is append-only: rows are never changed or deleted (the retention purge aside)."""


class AuditEventQuerySet(models.QuerySet):
    # Both raise: the trail is evidence. The retention purge deletes with raw SQL under its flag.
    def update(self, **kwargs):
        # Deleting a user sets actor to NULL (on_delete=SET_NULL): actor is outside the row hash
        # (actor_username keeps who it was), so that one change is allowed.
        if kwargs.keys() == {"actor"} and kwargs["actor"] is None:
            return super().update(**kwargs)
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self):
        raise AppendOnlyError("audit events cannot be deleted")

    update.queryset_only = True
    delete.queryset_only = True


class AuditEvent(models.Model):
    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        DENIED = "denied", "Denied"

    # SET_NULL keeps the trail when a user is deleted; actor_username remembers who it was.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Set by audit_record before the insert (not auto_now_add) so the row hash can cover it.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # sha256 of the row's content, computed in Python at insert (no lock, no extra query);
    # the minute checkpoints chain these hashes in id order.
    row_hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["actor", "-created_at"], name="audit_actor_created_idx"),
            models.Index(fields=["action", "-created_at"], name="audit_action_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id} ({self.outcome})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("audit events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events cannot be deleted")


class AuditCheckpoint(models.Model):
    """A seal over the audit rows first_id..last_id: the chained digest of their row hashes.

    Written every minute by a beat task (audit_checkpoint_seal). digest = sha256(prev digest,
    each row's id and hash in id order), so changing, removing or inserting a sealed row, or
    rewriting an earlier checkpoint, breaks every digest from there on.
    """

    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField(unique=True)
    row_count = models.PositiveIntegerField()
    prev_digest = models.CharField(max_length=64, blank=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    # Set when the retention purge removed this checkpoint's rows: the digest still links the chain.
    purged = models.BooleanField(default=False)

    class Meta:
        ordering = ["-last_id"]

    def __str__(self) -> str:
        return f"audit rows {self.first_id}..{self.last_id} ({self.row_count})"


class AuditVerification(models.Model):
    """One run of audit_verify: when, how much it checked, and the first problem it found."""

    created_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    checked_rows = models.PositiveIntegerField(default=0)
    checked_checkpoints = models.PositiveIntegerField(default=0)
    problem = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'BROKEN'}"


class AuditReport(models.Model):
    """A usage and audit summary over one day or week: a CSV and an HTML page, made once per period."""

    class Period(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"

    period = models.CharField(max_length=8, choices=Period.choices)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    empty = models.BooleanField(default=False)
    csv = models.TextField()
    html = models.TextField()
    summary = models.JSONField(default=dict)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start", "period"]
        constraints = [
            models.UniqueConstraint(fields=["period", "period_start"], name="audit_report_one_per_period"),
        ]

    def __str__(self) -> str:
        return f"{self.period} report {self.period_start:%Y-%m-%d}"


class UsageRecord(models.Model):
    """One model call attempt (sent, failed, or skipped by a policy): tokens and cost, for usage, quotas, health."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        SKIPPED = "skipped", "Skipped (breaker, cool-down, deadline)"
        REFUSED = "refused", "Refused (key or limit)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_records")
    provider = models.CharField(max_length=50)
    model = models.CharField(max_length=100)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    conversation_id = models.BigIntegerField(null=True, blank=True)
    fallback = models.BooleanField(default=False)
    cached = models.BooleanField(default=False)
    # The answer cache's part: "hit" (answered from it, nothing sent), "miss" (looked up, sent,
    # kept), "" (not cacheable or bypassed). cost_saved: what a hit's answer cost when fresh.
    cache_status = models.CharField(max_length=8, blank=True, default="")
    cost_saved = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    error_kind = models.CharField(max_length=32, blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    latency_ms = models.PositiveIntegerField(default=0)
    waited_ms = models.PositiveIntegerField(default=0)
    operator_key = models.BooleanField(default=False, help_text="The call used the operator's key, not the user's.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "created_at"], name="usage_user_created_idx"),
            models.Index(fields=["provider", "-created_at"], name="usage_provider_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}: {self.input_tokens}+{self.output_tokens}"
