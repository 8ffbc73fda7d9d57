"""The Celery application; settings come from Django's CELERY_* names."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.development")

app = Celery("todoassist")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The provider health probe lives beside, not in, apps/providers/tasks.py (key validation's home).
app.autodiscover_tasks(["apps.providers"], related_name="health_tasks")
