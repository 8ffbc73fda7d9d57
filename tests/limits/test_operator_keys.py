"""Operator keys: users without a key chat through them, always under the per-user policy; never shown anywhere."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.audit.models import AuditEvent, UsageRecord
from apps.audit.services import usage_record
from apps.chat.services import chat_turn
from apps.keys.models import ProviderKey
from apps.keys.vault import operator_key_create
from apps.limits.models import UserPolicy
from apps.providers.models import ProviderConfig
from apps.providers.services import provider_preference_set
from tests.factories import make_user

pytestmark = pytest.mark.django_db

OPERATOR_KEY = "sk-operator-secret-canary-7391"


@pytest.fixture
def operator_openai(fake_provider):
    ProviderConfig.objects.filter(name="openai").update(base_url=fake_provider.openai_base_url,
                                                        operator_key_for_users=True)
    ProviderConfig.objects.filter(name="anthropic").update(enabled=False)
    UserPolicy.objects.update_or_create(user=None, defaults={"tokens_per_month": 1_000_000})
    return operator_key_create(actor=None, provider_name="openai", key=OPERATOR_KEY)


@pytest.fixture
def staff():
    operator = get_user_model().objects.create_superuser("operator", "op@example.com", "pw-operator-1")
    client = Client()
    client.force_login(operator)
    return client


def test_a_user_without_a_key_chats_through_the_operator_key(user_a, client_a, fake_provider, operator_openai):
    provider_preference_set(user=user_a, provider_name="openai")
    fake_provider.reply_text("openai", "through the operator", usage=(30, 10))

    answer = chat_turn(user=user_a, conversation_id=None, text="hello")

    assert answer.provider == "openai" and answer.reply == "through the operator"
    assert fake_provider.last("openai").api_key() == OPERATOR_KEY
    row = UsageRecord.objects.get(user=user_a, provider="openai", outcome="success")
    assert row.operator_key and row.input_tokens == 30
    turn = AuditEvent.objects.get(action="chat.turn")
    assert turn.metadata["key_source"] == "operator"
    assert OPERATOR_KEY not in str(list(AuditEvent.objects.values()))
    listed = {p["name"]: p for p in client_a.get("/api/v1/providers/").json()}
    assert listed["openai"]["operator_key"] is True and listed["openai"]["has_usable_key"] is True


def test_without_the_provider_flag_the_operator_key_is_not_offered(user_a, client_a, fake_provider, operator_openai):
    ProviderConfig.objects.filter(name="openai").update(operator_key_for_users=False)
    listed = {p["name"]: p for p in client_a.get("/api/v1/providers/").json()}
    assert listed["openai"]["operator_key"] is False and listed["openai"]["has_usable_key"] is False
    assert chat_turn(user=user_a, conversation_id=None, text="hello").provider == "offline"
    assert fake_provider.count("openai") == 0


def test_each_users_usage_is_counted_separately_and_the_budget_fails_over(user_a, user_b, fake_provider,
                                                                           operator_openai):
    UserPolicy.objects.update_or_create(user=None, defaults={"tokens_per_month": 100_000})
    for user in (user_a, user_b):
        provider_preference_set(user=user, provider_name="openai")
    usage_record(user=user_a, provider="openai", model="m", input_tokens=99_990, output_tokens=0, cost=0,
                 operator_key=True)
    fake_provider.reply_text("openai", "for b")

    a = chat_turn(user=user_a, conversation_id=None, text="hello")
    b = chat_turn(user=user_b, conversation_id=None, text="hello")

    assert a.provider == "offline" and a.fallback_used
    assert "your monthly token quota for OpenAI" in " ".join(a.warnings)
    assert b.provider == "openai"  # user_a's spending is not user_b's
    refused = AuditEvent.objects.get(action="limit.exceeded")
    assert refused.actor == user_a and refused.metadata["key_source"] == "operator" and refused.outcome == "denied"


def test_without_a_per_user_quota_the_operator_key_is_not_used(user_a, fake_provider, operator_openai):
    UserPolicy.objects.update_or_create(user=None, defaults={"tokens_per_month": None, "cost_per_month": None})
    provider_preference_set(user=user_a, provider_name="openai")
    answer = chat_turn(user=user_a, conversation_id=None, text="hello")
    assert answer.provider == "offline" and "per-user" in " ".join(answer.warnings)
    assert fake_provider.count("openai") == 0


def test_an_operator_key_opens_only_as_one_a_users_ciphertext_does_not(user_a, operator_openai):
    from apps.keys.vault import provider_key_create, provider_key_open

    own = provider_key_create(user=user_a, provider_name="openai", key="sk-user-own-key-0001")
    copied = ProviderKey.objects.get(pk=own.pk)
    copied.pk, copied.owner = None, None  # the user's sealed bytes, dressed up as an operator key
    copied.save()
    from apps.keys.vault import ProviderKeyUnusable, operator_key_open

    with pytest.raises(ProviderKeyUnusable):
        operator_key_open(key_id=copied.pk)
    assert operator_key_open(key_id=operator_openai.pk).secret.reveal() == OPERATOR_KEY
    with pytest.raises(Exception):  # noqa: B017 - not the user's key: a 404
        provider_key_open(user=user_a, key_id=operator_openai.pk)


def test_the_admin_form_and_lists_never_show_the_operator_key(staff, operator_openai):
    add = staff.get("/admin/keys/operatorkey/add/").content.decode()
    assert 'type="password"' in add and 'name="key"' in add
    provider = ProviderConfig.objects.get(name="openai")
    second = "sk-operator-second-canary-5555"
    response = staff.post("/admin/keys/operatorkey/add/", {"provider": provider.pk, "label": "backup", "key": second})
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = ProviderKey.objects.get(owner__isnull=True, label="backup")
    assert stored.last4 == "5555" and second.encode() not in bytes(stored.ciphertext)

    responses = [
        staff.get("/admin/keys/operatorkey/"),
        staff.get(f"/admin/keys/operatorkey/{stored.pk}/change/"),
        staff.get(f"/admin/keys/operatorkey/{operator_openai.pk}/change/"),
        staff.get("/admin/keys/providerkey/"),
        staff.get("/admin/keys/operatorkey/add/"),
    ]
    assert [r.status_code for r in responses] == [200] * 5
    pages = [r.content.decode() for r in responses]
    for page in pages:
        assert OPERATOR_KEY not in page and second not in page
    assert "…5555" in pages[0] and "…7391" in pages[0]
    assert AuditEvent.objects.filter(action="operator_key.create", metadata__key_last4="5555").exists()
    assert second not in str(list(AuditEvent.objects.values()))


def test_the_health_probe_uses_the_operator_key(fake_provider, operator_openai):
    from apps.providers.health_tasks import provider_health_probe_task

    results = provider_health_probe_task()
    assert results["openai"]["ok"] is True
    assert fake_provider.last("models").api_key() == OPERATOR_KEY


def test_a_second_user_without_a_key_is_not_another_users_key(operator_openai):
    # the route never takes another user's own key for someone without one
    from apps.keys.vault import provider_key_create
    from apps.providers.gateway import build_route

    owner = make_user("owner-of-key")
    provider_key_create(user=owner, provider_name="openai", key="sk-someone-else-0001")
    other = make_user("keyless")
    step = build_route(user=other, provider=ProviderConfig.objects.get(name="openai"), model="gpt-4o-mini")[0]
    assert step.operator_key and step.key_id == operator_openai.pk


def test_the_limit_policy_admin_edits_the_default_and_refuses_a_second_one(staff, user_a):
    assert staff.get("/admin/limits/userpolicy/").status_code == 200
    response = staff.post("/admin/limits/userpolicy/add/", {"tokens_per_month": "5"})
    assert response.status_code == 200 and "There is a default policy already" in response.content.decode()
    response = staff.post("/admin/limits/userpolicy/add/", {"user": user_a.pk, "tokens_per_month": "5"})
    assert response.status_code == 302
    assert UserPolicy.objects.get(user=user_a).tokens_per_month == 5
