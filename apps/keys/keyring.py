"""Master keys for provider-key encryption, parsed from KEY_ENCRYPTION_KEYS (no Django imports: settings use it)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

MASTER_KEY_BYTES = 32
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class KeyringConfigError(ValueError):
    """KEY_ENCRYPTION_KEYS is malformed. The message names the entry, never the key material."""


@dataclass(frozen=True)
class MasterKey:
    id: str
    key: bytes = field(repr=False)


def parse_master_keys(raw: str) -> tuple[MasterKey, ...]:
    """Parse `id:base64-32-bytes,id:base64,...` (newest first)."""
    keys: list[MasterKey] = []
    entries = [entry.strip() for entry in (raw or "").split(",") if entry.strip()]
    for position, entry in enumerate(entries, start=1):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        where = f"KEY_ENCRYPTION_KEYS entry {position}"
        if not sep:
            raise KeyringConfigError(f"{where} must look like id:base64 (no ':' found).")
        if not _ID_RE.match(key_id):
            raise KeyringConfigError(f"{where}: the id must be 1-32 letters, digits, '-' or '_'.")
        try:
            material = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyringConfigError(f"{where} ({key_id!r}): the key is not valid base64.") from None
        if len(material) != MASTER_KEY_BYTES:
            raise KeyringConfigError(
                f"{where} ({key_id!r}): the key must decode to {MASTER_KEY_BYTES} bytes, not {len(material)}."
            )
        if any(k.id == key_id for k in keys):
            raise KeyringConfigError(f"{where}: the id {key_id!r} is used twice.")
        keys.append(MasterKey(id=key_id, key=material))
    return tuple(keys)


def generate_master_key_entry(key_id: str) -> str:
    import secrets

    return f"{key_id}:{base64.b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).decode()}"
