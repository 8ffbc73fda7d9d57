"""The rows a chat turn's route is made from are per-process copies (apps.providers.selectors.route_inputs),
and every change an operator or user makes applies on the very next turn (issue #12)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.keys.models import ProviderKey
from apps.keys.vault import provider_key_create, provider_key_delete
from apps.providers.models import ProviderConfig
from apps.providers.selectors import route_inputs
from apps.providers.services import cache_preference_set, provider_preference_set
from tests.chat.conftest import ANTHROPIC_KEY, OPENAI_KEY, post_chat
from tests.fakes.provider_server import ANTHROPIC, OPENAI

pytestmark = pytest.mark.django_db

ROUTE_TABLES = ('FROM "providers_providerconfig"', 'FROM "providers_providerpreference"', 'FROM "providers_cachepreference"')


def _turn(client, fake_provider, route=OPENAI) -> dict:
    fake_provider.reply_text(route, "Noted.")
    answer = post_chat(client, f"hello {uuid.uuid4().hex}")  # never one the answer cache knows
    assert answer["cached"] is False
    return answer


def test_a_warm_turn_reads_no_route_rows(keyed_user, client_a, fake_provider):
    _turn(client_a, fake_provider)
    with CaptureQueriesContext(connection) as captured:
        answer = _turn(client_a, fake_provider)
    assert answer["provider"] == "openai"
    sql = [q["sql"] for q in captured.captured_queries]
    assert not [q for q in sql if any(table in q for table in ROUTE_TABLES)], sql
    key_reads = [q for q in sql if q.startswith("SELECT") and '"keys_providerkey"' in q]
    assert len(key_reads) == 1, "only the opened key itself is read (status, ciphertext)"


def test_an_operator_disabling_the_chosen_provider_applies_on_the_next_turn(keyed_user, client_a, fake_provider):
    assert _turn(client_a, fake_provider)["provider"] == "openai"
    provider = ProviderConfig.objects.get(name="openai")
    provider.enabled = False
    provider.save()  # as the admin does
    assert _turn(client_a, fake_provider, ANTHROPIC)["provider"] == "anthropic"


def test_a_changed_base_url_applies_on_the_next_turn(keyed_user, client_a, fake_provider):
    _turn(client_a, fake_provider)
    provider = ProviderConfig.objects.get(name="openai")
    provider.base_url = "http://127.0.0.1:9/v1"  # nothing listens there
    provider.save()
    answer = _turn(client_a, fake_provider, ANTHROPIC)  # openai's call fails: the turn fails over
    assert answer["provider"] == "anthropic" and answer["fallback_used"] is True


def test_a_new_preference_and_cache_choice_apply_on_the_next_turn(keyed_user, client_a, fake_provider):
    _turn(client_a, fake_provider)
    assert route_inputs(user=keyed_user).answer_cache is True
    provider_preference_set(user=keyed_user, provider_name="anthropic")
    cache_preference_set(user=keyed_user, answer_cache=False)
    assert _turn(client_a, fake_provider, ANTHROPIC)["provider"] == "anthropic"
    assert route_inputs(user=keyed_user).answer_cache is False


def test_a_deleted_key_is_never_sent_and_a_new_one_is_used_at_once(keyed_user, client_a, fake_provider):
    _turn(client_a, fake_provider)
    old = ProviderKey.objects.get(owner=keyed_user, provider__name="openai")
    provider_key_delete(user=keyed_user, key_id=old.pk)
    assert _turn(client_a, fake_provider, ANTHROPIC)["provider"] == "anthropic"
    provider_key_create(user=keyed_user, provider_name="openai", key="sk-openai-fresh-0003")
    assert _turn(client_a, fake_provider)["provider"] == "openai"
    assert fake_provider.last(OPENAI).api_key() == "sk-openai-fresh-0003"
    assert OPENAI_KEY not in [r.api_key() for r in fake_provider.requests_to(OPENAI)[-1:]]


def test_a_key_revoked_behind_the_orms_back_is_still_never_sent(keyed_user, client_a, fake_provider):
    """The copy still lists it (no signal), but the key is read again when it is opened."""
    _turn(client_a, fake_provider)
    sent_before = fake_provider.count(OPENAI)
    ProviderKey.objects.filter(owner=keyed_user, provider__name="openai").update(status=ProviderKey.Status.REVOKED)
    answer = _turn(client_a, fake_provider, ANTHROPIC)
    assert answer["provider"] == "anthropic"
    assert fake_provider.count(OPENAI) == sent_before
    assert fake_provider.last(ANTHROPIC).api_key() == ANTHROPIC_KEY


def test_a_key_whose_expiry_passes_while_the_copy_is_warm_is_not_chosen(user_a, client_a, providers_at_fake):
    provider_key_create(
        user=user_a, provider_name="openai", key=OPENAI_KEY, expires_at=timezone.now() + timedelta(seconds=3)
    )
    provider_key_create(user=user_a, provider_name="anthropic", key=ANTHROPIC_KEY)
    provider_preference_set(user=user_a, provider_name="openai")
    assert _turn(client_a, providers_at_fake)["provider"] == "openai"
    time.sleep(3.1)
    assert route_inputs(user=user_a).key_ids().get(ProviderConfig.objects.get(name="openai").pk) is None
    assert _turn(client_a, providers_at_fake, ANTHROPIC)["provider"] == "anthropic"


def test_without_the_copy_every_turn_reads_the_rows(keyed_user, client_a, fake_provider, settings):
    settings.PROVIDER_ROUTE_CACHE_SECONDS = 0
    _turn(client_a, fake_provider)
    with CaptureQueriesContext(connection) as captured:
        _turn(client_a, fake_provider)
    assert [q for q in captured.captured_queries if 'FROM "providers_providerconfig"' in q["sql"]]
