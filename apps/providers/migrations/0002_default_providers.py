from decimal import Decimal

from django.db import migrations

DEFAULTS = [
    {
        "name": "openai",
        "display_name": "OpenAI",
        "kind": "openai",
        "model_names": ["gpt-4o-mini", "gpt-4.1-mini"],
        "default_model": "gpt-4o-mini",
        "price_input_per_million": Decimal("0.15"),
        "price_output_per_million": Decimal("0.60"),
        "fallback_order": 10,
    },
    {
        "name": "anthropic",
        "display_name": "Anthropic",
        "kind": "anthropic",
        "model_names": ["claude-haiku-4-5", "claude-sonnet-4-6"],
        "default_model": "claude-haiku-4-5",
        "price_input_per_million": Decimal("1.00"),
        "price_output_per_million": Decimal("5.00"),
        "fallback_order": 20,
    },
    {
        "name": "offline",
        "display_name": "Offline assistant",
        "kind": "offline",
        "model_names": ["offline-rules"],
        "default_model": "offline-rules",
        "fallback_order": 1000,
    },
]


def create_defaults(apps, schema_editor):
    ProviderConfig = apps.get_model("providers", "ProviderConfig")
    for values in DEFAULTS:
        ProviderConfig.objects.get_or_create(name=values["name"], defaults=values)


class Migration(migrations.Migration):
    dependencies = [("providers", "0001_initial")]
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
