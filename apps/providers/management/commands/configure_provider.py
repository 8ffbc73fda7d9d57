"""Create or update a provider config from the command line (deployments, scripts)."""

from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.core.errors import ApplicationError
from apps.providers.models import ProviderConfig, ProviderKind
from apps.providers.services import provider_config_save


def _price(value: str) -> Decimal:
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise CommandError(f"Not a price: {value!r}") from None
    if price < 0:
        raise CommandError("Prices cannot be negative.")
    return price


class Command(BaseCommand):
    help = "Create or update provider NAME. Only the options given are changed on an existing provider."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--kind", choices=ProviderKind.values)
        parser.add_argument("--base-url")
        parser.add_argument("--model", action="append", dest="models", help="offered model (repeatable)")
        parser.add_argument("--default-model")
        parser.add_argument("--price-in", type=_price, help="USD per million input tokens")
        parser.add_argument("--price-out", type=_price, help="USD per million output tokens")
        parser.add_argument("--timeout", type=int)
        parser.add_argument("--fallback-order", type=int)
        parser.add_argument("--requests-per-minute", type=int, help="model calls per minute (0 = no limit)")
        parser.add_argument("--tokens-per-minute", type=int, help="tokens per minute (0 = no limit)")
        parser.add_argument("--tokens-per-day", type=int, help="tokens per UTC day (0 = no limit)")
        parser.add_argument("--cost-per-month", type=_price, help="spend per calendar month (0 = no limit)")
        operator = parser.add_mutually_exclusive_group()
        operator.add_argument("--operator-key-for-users", action="store_true", help="users without a key use the operator key")
        operator.add_argument("--no-operator-key-for-users", action="store_true")
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--enable", action="store_true")
        state.add_argument("--disable", action="store_true")

    def handle(self, *args, name, **options):
        with transaction.atomic():
            provider = ProviderConfig.objects.select_for_update().filter(name=name).first()
            created = provider is None
            if created:
                if not options["kind"]:
                    raise CommandError("--kind is needed to create a provider.")
                provider = ProviderConfig(name=name, display_name=name)
            changes = {
                "kind": options["kind"],
                "base_url": options["base_url"],
                "model_names": options["models"],
                "default_model": options["default_model"],
                "price_input_per_million": options["price_in"],
                "price_output_per_million": options["price_out"],
                "timeout_seconds": options["timeout"],
                "fallback_order": options["fallback_order"],
            }
            for field in ("requests_per_minute", "tokens_per_minute", "tokens_per_day", "cost_per_month"):
                if options[field] is not None:
                    changes[field] = options[field] or ""  # 0 clears the limit
            if options["operator_key_for_users"]:
                changes["operator_key_for_users"] = True
            if options["no_operator_key_for_users"]:
                changes["operator_key_for_users"] = False
            if options["enable"]:
                changes["enabled"] = True
            if options["disable"]:
                changes["enabled"] = False
            changed = sorted(field for field, value in changes.items() if value is not None)
            for field in changed:
                setattr(provider, field, None if changes[field] == "" else changes[field])
            if options["models"] and not options["default_model"] and provider.default_model not in options["models"]:
                provider.default_model = options["models"][0]
            try:
                provider_config_save(actor=None, provider=provider, source="configure_provider")
            except ApplicationError as exc:
                raise CommandError(exc.message) from None
        self.stdout.write(f"{'created' if created else 'updated'} provider {provider.name} ({provider.kind})")
