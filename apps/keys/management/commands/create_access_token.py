"""Print a new personal access token for a user."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.keys.services import access_token_create


class Command(BaseCommand):
    help = "Create a personal access token for USERNAME and print it (it is shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line")

    def handle(self, *args, username, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        created = access_token_create(user=user, name=name)
        self.stdout.write(created.plaintext)
