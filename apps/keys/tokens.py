"""Making and checking personal access token strings (no database here)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "tda"
_TOKEN_RE = re.compile(r"^tda_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class NewToken:
    key_id: str
    plaintext: str
    token_hash: str


def hash_token(plaintext: str) -> str:
    # The secret part has 256 bits of entropy, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_token() -> NewToken:
    key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    plaintext = f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return NewToken(key_id=key_id, plaintext=plaintext, token_hash=hash_token(plaintext))


def parse_key_id(plaintext: str) -> str | None:
    match = _TOKEN_RE.match(plaintext or "")
    return match.group(1) if match else None


def token_matches(plaintext: str, token_hash: str) -> bool:
    return hmac.compare_digest(hash_token(plaintext), token_hash)
