"""Sending a delivered reminder by email through Django's email backend."""

from __future__ import annotations

from django.core.mail import send_mail

from apps.todos.models import Reminder, TodoSettings

_SENT_MARK = "email_sent"


def reminder_email_send(*, reminder_id: int) -> str:
    """Email a delivered reminder once; a deleted reminder, a user who opted out or no address is skipped."""
    reminder = Reminder.objects.select_related("task", "owner").filter(pk=reminder_id).first()
    if reminder is None or reminder.delivered_at is None:
        return "gone"
    user = reminder.owner
    if not user.email or not TodoSettings.objects.filter(user=user, email_reminders=True).exists():
        return "skipped"
    task = reminder.task
    due = f" (due {task.due_date}{' ' + task.due_time.strftime('%H:%M') if task.due_time else ''})" if task.due_date else ""
    send_mail(
        subject=f"Reminder: {task.title}"[:200],
        message=f"Reminder from your todo list: {task.title}{due}.",
        from_email=None,
        recipient_list=[user.email],
    )
    return "sent"
