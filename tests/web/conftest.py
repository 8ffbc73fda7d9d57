"""Fixtures for page tests: logged-in Django test clients (session auth, as a browser has)."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.keys.vault import provider_key_create


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


def make_key(user, *, key="sk-test-key-0000", label="", provider="openai"):
    return provider_key_create(user=user, provider_name=provider, key=key, label=label)


def make_conversation(user, text="add buy milk"):
    """A stored turn with the offline provider (the default for a user without keys)."""
    from apps.chat.services import chat_turn

    return chat_turn(user=user, conversation_id=None, text=text).conversation_id
