"""The default per-user policy (carrying over USAGE_MONTHLY_TOKEN_LIMIT, now dropped) and the reconcile schedule."""

import os

from django.db import migrations

TASK = "apps.limits.tasks.limits_reconcile_task"
NAME = "limits reconcile and usage roll-up"


def forwards(apps, schema_editor):
    UserPolicy = apps.get_model("limits", "UserPolicy")
    if not UserPolicy.objects.filter(user__isnull=True).exists():
        raw = os.environ.get("USAGE_MONTHLY_TOKEN_LIMIT", "").strip()
        UserPolicy.objects.create(user=None, tokens_per_month=int(raw) if raw.isdigit() and int(raw) > 0 else None)
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=300, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={"task": TASK, "interval": every, "enabled": True,
                  "description": "Raises live quota counters to the usage rows and rolls usage up per user, provider and day."},
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("limits", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
