"""Drop every process's copies of verified OAuth tokens when a token, a client or a user changes."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from oauth2_provider.models import get_access_token_model, get_application_model, get_refresh_token_model

from apps.oauth.models import ClientState
from apps.oauth.selectors import verified_oauth_tokens


def _changed(sender, instance, created=False, using=None, **kwargs) -> None:
    if not created:  # a new row cannot be in anyone's copy yet
        verified_oauth_tokens.bump_now_and_on_commit(using=using)


def _user_changed(sender, instance, created=False, update_fields=None, using=None, **kwargs) -> None:
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    verified_oauth_tokens.bump_now_and_on_commit(using=using)


def connect() -> None:
    for model in (get_access_token_model(), get_refresh_token_model(), get_application_model(), ClientState):
        label = model._meta.label_lower
        post_save.connect(_changed, sender=model, dispatch_uid=f"oauth.saved.{label}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"oauth.deleted.{label}")
    user_model = get_user_model()
    post_save.connect(_user_changed, sender=user_model, dispatch_uid="oauth.user_saved")
    post_delete.connect(_user_changed, sender=user_model, dispatch_uid="oauth.user_deleted")
