"""Tasks on a person's todo list."""

from django.conf import settings
from django.core.validators import MaxLengthValidator, MinLengthValidator
from django.db import models

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 5000


class Task(models.Model):
    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=TITLE_MAX_LENGTH, validators=[MinLengthValidator(1)])
    description = models.TextField(blank=True, default="", validators=[MaxLengthValidator(DESCRIPTION_MAX_LENGTH)])
    completed = models.BooleanField(default=False)
    completed_at = models.DateTimeField(null=True, blank=True)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    due_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The owner's list, filtered by status and newest first, is the hot query.
            models.Index(fields=["owner", "completed", "-created_at"], name="task_owner_status_created_idx"),
            models.Index(fields=["owner", "due_date"], name="task_owner_due_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(completed=False) | models.Q(completed_at__isnull=False),
                name="task_completed_has_timestamp",
            ),
        ]

    def __str__(self) -> str:
        return self.title
