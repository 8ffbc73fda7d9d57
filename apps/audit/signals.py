"""Receivers for django.contrib.auth's log-in signals: each writes one audit event (never a password)."""

from __future__ import annotations

from apps.audit.services import audit_record


def on_login(sender, request=None, user=None, **kwargs):
    audit_record(actor=user, action="auth.login", target=user, metadata={"backend": getattr(user, "backend", "") or ""})


def on_logout(sender, request=None, user=None, **kwargs):
    if user is not None:
        audit_record(actor=user, action="auth.logout", target=user)


def on_login_failed(sender, credentials=None, request=None, **kwargs):
    # credentials is already cleansed by Django, but only the user name is kept anyway.
    username = str((credentials or {}).get("username", ""))[:150]
    audit_record(
        actor=None,
        action="auth.login_failed",
        target_type="auth.user",
        outcome="failure",
        metadata={"username": username},
    )
