"""Redirect URI rules for public clients: https, or http on a loopback address (RFC 8252 native apps)."""

from __future__ import annotations

from urllib.parse import urlsplit

from apps.core.fields import unstorable_text

LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


def redirect_uri_problem(uri: str) -> str | None:
    """Why this redirect URI is refused, or None when it is acceptable."""
    if not isinstance(uri, str) or not uri or len(uri) > 500:
        return "must be a URL of at most 500 characters"
    if unstorable_text(uri):
        return "must not contain NUL or surrogate characters"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.fragment:
        return "must not have a fragment"
    if parts.username or parts.password:
        return "must not carry credentials"
    if not parts.hostname:
        return "must name a host"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return None
    return "must use https (or http on a loopback address, for native clients)"
