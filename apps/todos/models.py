"""Tasks on a person's todo list, with their lists, labels, completions, reminders and notifications."""

from django.conf import settings
from django.core.validators import MaxLengthValidator, MinLengthValidator
from django.db import models
from django.db.models.functions import Lower

TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 5000
LIST_NAME_MAX_LENGTH = 100
LABEL_NAME_MAX_LENGTH = 50
RECURRENCE_MAX_LENGTH = 300
TIME_ZONE_MAX_LENGTH = 64
INBOX_NAME = "Inbox"


class TaskList(models.Model):
    """A named list of tasks; every user has exactly one Inbox, which cannot be deleted or renamed."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="task_lists")
    name = models.CharField(max_length=LIST_NAME_MAX_LENGTH, validators=[MinLengthValidator(1)])
    is_inbox = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_inbox", "name", "id"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "owner", name="tasklist_owner_name_uniq"),
            models.UniqueConstraint(
                fields=["owner"], condition=models.Q(is_inbox=True), name="tasklist_one_inbox_per_owner"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Label(models.Model):
    """A tag a user puts on tasks (many per task)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="task_labels")
    name = models.CharField(max_length=LABEL_NAME_MAX_LENGTH, validators=[MinLengthValidator(1)])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(Lower("name"), "owner", name="label_owner_name_uniq")]

    def __str__(self) -> str:
        return self.name


class Task(models.Model):
    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks")
    task_list = models.ForeignKey(TaskList, on_delete=models.PROTECT, related_name="tasks")
    labels = models.ManyToManyField(Label, blank=True, related_name="tasks")
    title = models.CharField(max_length=TITLE_MAX_LENGTH, validators=[MinLengthValidator(1)])
    description = models.TextField(blank=True, default="", validators=[MaxLengthValidator(DESCRIPTION_MAX_LENGTH)])
    completed = models.BooleanField(default=False)
    completed_at = models.DateTimeField(null=True, blank=True)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    # Sortable copy of priority (0 low .. 2 high), so "by priority" pages walk an index.
    priority_rank = models.PositiveSmallIntegerField(default=1)
    due_date = models.DateField(null=True, blank=True)
    # Wall-clock time in the owner's time zone (TodoSettings.time_zone); None means "some time that day".
    due_time = models.TimeField(null=True, blank=True)
    # An RFC 5545 RRULE ("FREQ=WEEKLY;BYDAY=MO,WE"), evaluated with python-dateutil; "" = not recurring.
    recurrence = models.CharField(max_length=RECURRENCE_MAX_LENGTH, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The owner's list, filtered by status and newest first, is the hot query.
            models.Index(fields=["owner", "completed", "-created_at"], name="task_owner_status_created_idx"),
            # Views: today/overdue/upcoming walk (owner, completed, due_date, due_time, id).
            models.Index(fields=["owner", "completed", "due_date", "due_time", "id"], name="task_owner_open_due_idx"),
            models.Index(fields=["owner", "completed", "-priority_rank", "-created_at"], name="task_owner_prio_idx"),
            # Partial on completed: SQLite renders completed=True as a bare column, which only a
            # partial index's WHERE matches.
            models.Index(
                fields=["owner", "-completed_at", "-id"], condition=models.Q(completed=True), name="task_owner_done_idx"
            ),
            models.Index(fields=["task_list", "completed", "-created_at"], name="task_list_status_created_idx"),
            # The "all" view (every status) in each of its sorts, and by list.
            models.Index(fields=["owner", "-created_at", "-id"], name="task_owner_created_idx"),
            models.Index(fields=["owner", "due_date", "due_time", "id"], name="task_owner_due_time_idx"),
            models.Index(fields=["owner", "-priority_rank", "-created_at", "-id"], name="task_owner_rank_idx"),
            models.Index(fields=["task_list", "-created_at", "-id"], name="task_list_created_idx"),
            models.Index(
                fields=["owner", "-created_at", "-id"],
                condition=models.Q(completed=False, due_date__isnull=True),
                name="task_owner_nodate_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(completed=False) | models.Q(completed_at__isnull=False),
                name="task_completed_has_timestamp",
            ),
            models.CheckConstraint(
                condition=models.Q(due_time__isnull=True) | models.Q(due_date__isnull=False),
                name="task_due_time_needs_date",
            ),
        ]

    def __str__(self) -> str:
        return self.title


PRIORITY_RANKS = {Task.Priority.LOW: 0, Task.Priority.NORMAL: 1, Task.Priority.HIGH: 2}


class TaskCompletion(models.Model):
    """One completion of a task: the history, and for a recurring task the way to undo a completion."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="task_completions")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="completions")
    completed_at = models.DateTimeField()
    # The occurrence that was done (a recurring task's due date/time before it moved on).
    due_date = models.DateField(null=True, blank=True)
    due_time = models.TimeField(null=True, blank=True)

    class Meta:
        ordering = ["-completed_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-completed_at", "-id"], name="completion_owner_at_idx"),
            models.Index(fields=["task", "-completed_at", "-id"], name="completion_task_at_idx"),
        ]


class Reminder(models.Model):
    """A moment to remind the owner of a task: ``minutes_before`` the due time, or an absolute ``remind_at``."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="task_reminders")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="reminders")
    # Relative reminders keep minutes_before and get remind_at recomputed when the due date moves.
    minutes_before = models.PositiveIntegerField(null=True, blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["remind_at", "id"]
        indexes = [
            models.Index(
                fields=["remind_at"], condition=models.Q(delivered_at__isnull=True), name="reminder_pending_idx"
            ),
        ]


class Notification(models.Model):
    """An in-app message (the bell); at most one per reminder, which is what makes delivery exactly-once."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    reminder = models.OneToOneField(
        Reminder, on_delete=models.SET_NULL, null=True, blank=True, related_name="notification"
    )
    task = models.ForeignKey(Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications")
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="notification_owner_idx"),
            models.Index(fields=["owner"], condition=models.Q(read_at__isnull=True), name="notification_unread_idx"),
        ]


class TodoSettings(models.Model):
    """Per-user todo settings: the time zone due times are in, and whether reminders also go by email."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="todo_settings")
    time_zone = models.CharField(max_length=TIME_ZONE_MAX_LENGTH, blank=True, default="")  # "" = server's
    email_reminders = models.BooleanField(default=False)
