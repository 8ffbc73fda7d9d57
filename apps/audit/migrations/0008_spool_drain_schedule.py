"""The schedule of the spool drain: usage and audit rows a database failure left outside it, written every minute."""

from django.db import migrations

NAME = "audit: write spooled usage and audit"
TASK = "apps.audit.tasks.audit_spool_drain_task"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = CrontabSchedule.objects.get_or_create(
        minute="*", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={"task": TASK, "crontab": every_minute, "kwargs": "{}",
                  "description": "Writes the usage rows and audit events of chat turns whose save the database "
                                 "failed, kept in Redis or the local spool folder meanwhile (exactly once)."},
    )  # fmt: skip


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0007_usagerecord_operator_key"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
