"""Every user with tasks gets an Inbox, and every existing task goes into it; priority_rank is filled in."""

from django.db import migrations

RANKS = {"low": 0, "normal": 1, "high": 2}


def forwards(apps, schema_editor):
    Task = apps.get_model("todos", "Task")
    TaskList = apps.get_model("todos", "TaskList")
    owner_ids = Task.objects.filter(task_list__isnull=True).values_list("owner_id", flat=True).distinct()
    for owner_id in owner_ids.iterator():
        inbox, _ = TaskList.objects.get_or_create(owner_id=owner_id, is_inbox=True, defaults={"name": "Inbox"})
        Task.objects.filter(owner_id=owner_id, task_list__isnull=True).update(task_list=inbox)
    for priority, rank in RANKS.items():
        Task.objects.filter(priority=priority).update(priority_rank=rank)


class Migration(migrations.Migration):
    dependencies = [("todos", "0002_lists_labels_recurrence_reminders")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
