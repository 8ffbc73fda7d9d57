"""Breach response: revoke provider keys by user, by provider, or all of them."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.keys.models import ProviderKey
from apps.keys.selectors import provider_model
from apps.keys.vault import provider_keys_revoke


class Command(BaseCommand):
    help = "Revoke (and wipe) provider keys: --user NAME, --provider NAME, or --all."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--user", help="revoke every key of this user")
        group.add_argument("--provider", help="revoke every key for this provider (e.g. openai)")
        group.add_argument("--all", action="store_true", help="revoke every key of every user")
        parser.add_argument("--reason", default="breach response (revoke_keys)")

    def handle(self, *args, user, provider, all, reason, **options):
        queryset = ProviderKey.objects.exclude(status=ProviderKey.Status.REVOKED)
        if user:
            owner = get_user_model().objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"No user named {user!r}.")
            queryset = queryset.filter(owner=owner)
        elif provider:
            if not provider_model().objects.filter(name=provider).exists():
                raise CommandError(f"No provider named {provider!r}.")
            queryset = queryset.filter(provider__name=provider)
        count = provider_keys_revoke(queryset=queryset, actor=None, reason=reason)
        self.stdout.write(f"revoked: {count}")
