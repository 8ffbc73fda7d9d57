"""Fixtures for provider-key tests."""

from __future__ import annotations

import base64

from apps.keys.keyring import parse_master_keys

CANARY = "sk-canary-Zq9XwT4vLmN8pR2s"

OLD = parse_master_keys("old1:" + base64.b64encode(b"o" * 32).decode())
NEW = parse_master_keys("new2:" + base64.b64encode(b"n" * 32).decode())
