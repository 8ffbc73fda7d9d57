"""Drop every process's copies of route rows (apps.providers.selectors.route_inputs) when one changes."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from apps.keys.models import ProviderKey
from apps.providers.models import CachePreference, ProviderConfig, ProviderPreference
from apps.providers.selectors import route_inputs_cache


def _route_row_changed(sender, instance, using=None, update_fields=None, **kwargs) -> None:
    if update_fields is not None and set(update_fields) <= {"last_used_at"}:
        return  # a use stamp changes nothing a route reads
    # Created rows too: a user's first key or preference changes their route.
    route_inputs_cache.bump_now_and_on_commit(using=using)


def connect() -> None:
    for model in (ProviderConfig, ProviderKey, ProviderPreference, CachePreference):
        name = model._meta.label_lower
        post_save.connect(_route_row_changed, sender=model, dispatch_uid=f"providers.routes.{name}.saved")
        post_delete.connect(_route_row_changed, sender=model, dispatch_uid=f"providers.routes.{name}.deleted")
