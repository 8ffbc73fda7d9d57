"""Audit metadata: secrets are redacted by the name of their field; counts, ids and prefixes are kept."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.audit.services import REDACTED, audit_record
from apps.keys.vault import provider_key_create
from apps.providers.services import provider_preference_set
from tests.chat.conftest import post_chat

pytestmark = pytest.mark.django_db

KEPT = {
    "input_tokens": 120,
    "output_tokens": 34,
    "max_tokens": 1024,
    "cached_tokens": 0,
    "tokens": 7,  # a number under "tokens" is a count
    "token_prefix": "tda_abcdefghijkl",
    "token_id": 3,
    "key_last4": "9f3e",
    "key_id": 12,
    "provider_key_id": 12,
    "master_key_id": "k2",
    "from_master_key_id": "k1",
    "key_ids": [1, 2],
    "provider": "openai",
    "model_calls": 2,
    "monkey": "not a key",
    "tokenizer": "cl100k",
}
SECRETS = {
    "key": "sk-plain-secret-0001",
    "api_key": "sk-plain-secret-0002",
    "apiKey": "sk-plain-secret-0003",
    "X-Api-Key": "sk-plain-secret-0004",
    "access_token": "tda_abcdefghijkl_secretsecretsecret",
    "accessToken": "tda_abcdefghijkl_secretsecretsecret",
    "refresh_token": "rt-secret",
    "token": "tda_abcdefghijkl_secretsecretsecret",
    "tokens": ["tda_a_secret", "tda_b_secret"],  # a list of tokens is not a count
    "password": "hunter2",
    "new_password": "hunter3",
    "Authorization": "Bearer tda_abcdefghijkl_secretsecretsecret",
    "authorization_header": "Bearer x",
    "client_secret": "cs-secret",
    "ciphertext": "base64==",
    "session_cookie": "sessionid=abc",
}


def _stored(metadata: dict) -> dict:
    event = audit_record(actor=None, action="test.redaction", metadata=metadata)
    return AuditEvent.objects.get(pk=event.pk).metadata


@pytest.mark.parametrize(("name", "value"), list(KEPT.items()))
def test_counts_ids_and_prefixes_are_kept(name, value):
    assert _stored({name: value}) == {name: value}


@pytest.mark.parametrize(("name", "value"), list(SECRETS.items()))
def test_secrets_are_redacted(name, value):
    assert _stored({name: value}) == {name: REDACTED}


def test_secrets_nested_in_dicts_and_lists_are_redacted_and_their_neighbours_kept():
    stored = _stored(
        {"request": {"headers": {"Authorization": "Bearer x", "X-Request-ID": "r1"}, "attempts": [{"api_key": "sk-1", "input_tokens": 5}]}}
    )
    assert stored == {
        "request": {"headers": {"Authorization": REDACTED, "X-Request-ID": "r1"}, "attempts": [{"api_key": REDACTED, "input_tokens": 5}]}
    }


def test_a_chat_turn_audits_its_token_counts(client_a, user_a, providers_at_fake):
    provider_key_create(user=user_a, provider_name="openai", key="sk-redaction-test-0001")
    provider_preference_set(user=user_a, provider_name="openai")
    providers_at_fake.reply_tool_calls("openai", [("add_task", {"title": "buy milk"})], usage=(100, 20))
    providers_at_fake.reply_text("openai", "Added buy milk.", usage=(150, 10))

    post_chat(client_a, "add buy milk")

    event = AuditEvent.objects.get(action="chat.turn")
    assert event.metadata["input_tokens"] == 250 and event.metadata["output_tokens"] == 30
