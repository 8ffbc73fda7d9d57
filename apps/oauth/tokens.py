"""OAuth token strings: a visible prefix (tdo_/tdr_) so /mcp tells them from personal tokens (tda_)."""

from __future__ import annotations

import hashlib
import secrets

ACCESS_PREFIX = "tdo_"
REFRESH_PREFIX = "tdr_"


def access_token_generator(request=None, refresh_token: bool = False) -> str:
    return ACCESS_PREFIX + secrets.token_urlsafe(32)


def refresh_token_generator(request=None, refresh_token: bool = False) -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def token_checksum(plaintext: str) -> str:
    """The SHA-256 the toolkit stores in place of the token (COMPLIANT_BCP_RFC9700_TOKEN_STORAGE)."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def token_prefix(plaintext: str) -> str:
    """What audit rows and pages may show of a token."""
    return (plaintext or "")[:10]
