"""The bell: the signed-in user's unread notification count on every page."""

from __future__ import annotations


def notifications(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from apps.todos.selectors import notification_unread_count

    return {"unread_notifications": notification_unread_count(user=user)}
