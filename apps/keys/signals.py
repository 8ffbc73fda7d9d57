"""Drop every process's copies of verified access tokens when a token or a user changes."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save

from apps.keys.models import AccessToken
from apps.keys.selectors import verified_tokens


def _token_changed(sender, instance, created=False, using=None, **kwargs) -> None:
    if not created:  # a new token cannot be in anyone's copy yet
        verified_tokens.bump_now_and_on_commit(using=using)


def _user_changed(sender, instance, created=False, update_fields=None, using=None, **kwargs) -> None:
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return  # a login stamp changes nothing a token check reads
    verified_tokens.bump_now_and_on_commit(using=using)


def connect() -> None:
    post_save.connect(_token_changed, sender=AccessToken, dispatch_uid="keys.token_saved")
    post_delete.connect(_token_changed, sender=AccessToken, dispatch_uid="keys.token_deleted")
    user_model = get_user_model()
    post_save.connect(_user_changed, sender=user_model, dispatch_uid="keys.user_saved")
    post_delete.connect(_user_changed, sender=user_model, dispatch_uid="keys.user_deleted")
