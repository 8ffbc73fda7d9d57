"""AES-256-GCM sealing of provider keys under versioned master keys."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from apps.keys.keyring import MasterKey

NONCE_BYTES = 12  # 96-bit random nonce, fresh for every encryption
FORMAT_VERSION = b"\x01"


class SealError(Exception):
    """Base for failures to open a ciphertext; messages carry ids, never key material."""


class NoMasterKey(SealError):
    pass


class UnknownMasterKey(SealError):
    def __init__(self, master_key_id: str) -> None:
        self.master_key_id = master_key_id
        super().__init__(f"master key {master_key_id!r} is not configured")


class CiphertextInvalid(SealError):
    pass


def _keyring() -> tuple[MasterKey, ...]:
    return tuple(settings.KEY_ENCRYPTION_KEYS)


def newest_master_key_id() -> str:
    keys = _keyring()
    if not keys:
        raise NoMasterKey("no master key configured (set KEY_ENCRYPTION_KEYS)")
    return keys[0].id


def seal(plaintext: str, *, aad: bytes) -> tuple[str, bytes]:
    """Encrypt under the newest master key; returns (master key id, version + nonce + ciphertext + tag)."""
    keys = _keyring()
    if not keys:
        raise NoMasterKey("no master key configured (set KEY_ENCRYPTION_KEYS)")
    master = keys[0]
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(master.key).encrypt(nonce, plaintext.encode("utf-8"), FORMAT_VERSION + aad)
    return master.id, FORMAT_VERSION + nonce + ciphertext


def unseal(blob: bytes, *, master_key_id: str, aad: bytes) -> str:
    """Decrypt; the associated data must match what was sealed (same owner, provider and purpose)."""
    master = next((k for k in _keyring() if k.id == master_key_id), None)
    if master is None:
        raise UnknownMasterKey(master_key_id)
    blob = bytes(blob or b"")
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != FORMAT_VERSION:
        raise CiphertextInvalid("ciphertext is missing or malformed")
    nonce, ciphertext = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        plaintext = AESGCM(master.key).decrypt(nonce, ciphertext, FORMAT_VERSION + aad)
    except InvalidTag:
        raise CiphertextInvalid("ciphertext failed authentication (tampered, or bound to another row)") from None
    return plaintext.decode("utf-8")
