"""Fixtures for page tests: logged-in Django test clients (session auth, as a browser has)."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.keys.vault import provider_key_create
from apps.providers.models import ProviderConfig


@pytest.fixture
def page_a(user_a) -> Client:
    client = Client()
    client.force_login(user_a)
    return client


@pytest.fixture
def page_b(user_b) -> Client:
    client = Client()
    client.force_login(user_b)
    return client


@pytest.fixture
def openai_at_fake(db, fake_provider):
    ProviderConfig.objects.filter(name="openai").update(base_url=fake_provider.openai_base_url)
    return fake_provider


def make_key(user, *, key="sk-test-key-0000", label="", provider="openai"):
    return provider_key_create(user=user, provider_name=provider, key=key, label=label)
