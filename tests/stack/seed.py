"""Seeds the stack's database for tests/stack (run with the stack's environment: manage.py shell < this file).

Prints one JSON line: the user's access token, its id, and what was scheduled.
"""

import datetime
import json
import os

from django.contrib.auth import get_user_model
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from apps.keys.services import access_token_create
from apps.providers.models import ProviderConfig

fake = os.environ["STACK_FAKE_PROVIDER_URL"]
ProviderConfig.objects.filter(name="openai").update(base_url=fake + "/v1")
ProviderConfig.objects.filter(name="anthropic").update(base_url=fake)
user = get_user_model().objects.create_user("stackuser", password="stack-password-1")
staff = get_user_model().objects.create_user("stackstaff", password="stack-password-2", is_staff=True)
created = access_token_create(user=user, name="stack")
every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.MINUTES)
# Last run two minutes ago: due at once, then every minute.
PeriodicTask.objects.update_or_create(
    name="beat heartbeat (stack test)",
    defaults={
        "task": "apps.core.tasks.beat_heartbeat",
        "interval": every_minute,
        "last_run_at": timezone.now() - datetime.timedelta(minutes=2),
        "enabled": True,
    },
)
print("SEED " + json.dumps({"token": created.plaintext, "token_id": created.token.pk, "user_id": user.pk}))
