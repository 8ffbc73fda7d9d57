"""Fixtures for provider-key tests."""

from __future__ import annotations

import base64

import pytest

from apps.keys.keyring import parse_master_keys
from apps.providers.models import ProviderConfig

CANARY = "sk-canary-Zq9XwT4vLmN8pR2s"

OLD = parse_master_keys("old1:" + base64.b64encode(b"o" * 32).decode())
NEW = parse_master_keys("new2:" + base64.b64encode(b"n" * 32).decode())


@pytest.fixture
def providers_at_fake(db, fake_provider):
    """Point the openai and anthropic provider configs at the fake provider server."""
    ProviderConfig.objects.filter(name="openai").update(base_url=fake_provider.openai_base_url)
    ProviderConfig.objects.filter(name="anthropic").update(base_url=fake_provider.anthropic_base_url)
    return fake_provider
