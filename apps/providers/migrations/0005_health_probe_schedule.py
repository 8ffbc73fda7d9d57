"""The provider health probe's beat schedule (every minute), editable in the admin under Periodic tasks."""

from django.db import migrations

TASK = "apps.providers.health_tasks.provider_health_probe_task"
NAME = "provider health probe"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={"task": TASK, "interval": every, "enabled": True,
                  "description": "Probes providers that have an operator key (PROVIDER_PROBE_KEYS) and updates their breaker."},
    )


def drop_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("providers", "0004_base_url_rules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, drop_schedule)]
