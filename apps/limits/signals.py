"""Drop every process's copies of limit policies when a policy row changes."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from apps.limits.models import UserPolicy
from apps.limits.selectors import user_policies


def _policy_changed(sender, instance, using=None, **kwargs) -> None:
    # Created rows too: a user's new row replaces the default they were counted under.
    user_policies.bump_now_and_on_commit(using=using)


def connect() -> None:
    post_save.connect(_policy_changed, sender=UserPolicy, dispatch_uid="limits.policy_saved")
    post_delete.connect(_policy_changed, sender=UserPolicy, dispatch_uid="limits.policy_deleted")
