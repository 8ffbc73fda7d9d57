"""Create (or keep) the demo user and print a fresh access token for it."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.keys.services import access_token_create

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"


class Command(BaseCommand):
    help = "Create the demo user (demo / demo-password) if missing and print a new access token."

    def handle(self, *args, **options):
        User = get_user_model()
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=DEMO_USERNAME)
            if created or not user.has_usable_password():
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            token = access_token_create(user=user, name="demo (createdemo)")
        state = "created" if created else "exists"
        self.stderr.write(f"Demo user {DEMO_USERNAME!r} {state}; password {DEMO_PASSWORD!r}. Access token:")
        self.stdout.write(token.plaintext)
