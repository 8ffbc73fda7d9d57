"""Quotas and provider limits as gateway policies: reservations, failover with the reason, warnings, overrides."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.audit.models import AuditEvent, UsageRecord
from apps.audit.services import usage_record
from apps.chat.services import chat_turn
from apps.keys.vault import provider_key_create
from apps.limits import limiter
from apps.limits.models import UserPolicy
from apps.limits.policies import input_bound
from apps.providers.models import ProviderConfig
from apps.providers.services import provider_preference_set
from tests.factories import make_user
from tests.providers.helpers import user_request

pytestmark = pytest.mark.django_db


def default_policy(**fields) -> UserPolicy:
    policy, _ = UserPolicy.objects.update_or_create(user=None, defaults=fields)
    return policy


def only_openai(user, fake) -> None:
    ProviderConfig.objects.filter(name="openai").update(base_url=fake.openai_base_url)
    provider_key_create(user=user, provider_name="openai", key="sk-openai-limits-0001")
    provider_preference_set(user=user, provider_name="openai")


def test_the_input_bound_is_the_utf8_byte_count():
    request = user_request("héllo ✓")
    assert input_bound(request) >= len("héllo ✓".encode())


def test_a_used_up_monthly_quota_fails_over_and_says_which_quota_and_when_it_resets(user_a, fake_provider):
    only_openai(user_a, fake_provider)
    default_policy(tokens_per_month=1000)
    usage_record(user=user_a, provider="openai", model="m", input_tokens=900, output_tokens=50, cost=0)

    answer = chat_turn(user=user_a, conversation_id=None, text="add buy milk")

    assert answer.provider == "offline" and answer.fallback_used
    assert fake_provider.count("openai") == 0  # never sent
    warning = " ".join(answer.warnings)
    assert "your monthly token quota for OpenAI (1,000 tokens) is used up" in warning and "resets on" in warning
    refused = UsageRecord.objects.get(user=user_a, provider="openai", outcome="refused")
    assert refused.input_tokens == 0
    event = AuditEvent.objects.get(action="limit.exceeded")
    assert event.metadata["policy"] == "user_quota" and event.metadata["provider"] == "openai"
    assert event.actor == user_a and "milk" not in str(event.metadata)  # no prompt in the audit row


def test_the_reservation_is_reconciled_with_the_reported_usage(user_a, fake_provider):
    only_openai(user_a, fake_provider)
    default_policy(tokens_per_month=100_000)
    fake_provider.reply_text("openai", "hi", usage=(120, 30))

    chat_turn(user=user_a, conversation_id=None, text="hello")

    from apps.limits.quotas import quotas_for

    (quota,) = quotas_for(user=user_a, provider=ProviderConfig.objects.get(name="openai"))
    assert limiter.counter_peek(quota.key, ttl=quota.ttl, rebuild=lambda: -1) == 150  # not the reserved bound


def test_a_failed_call_gives_the_whole_reservation_back(user_a, fake_provider, settings):
    settings.PROVIDER_MAX_RETRIES = 0
    only_openai(user_a, fake_provider)
    default_policy(tokens_per_month=100_000)
    fake_provider.fault("openai", "server_error")

    answer = chat_turn(user=user_a, conversation_id=None, text="hello")

    assert answer.provider == "offline"
    from apps.limits.quotas import quotas_for

    (quota,) = quotas_for(user=user_a, provider=ProviderConfig.objects.get(name="openai"))
    assert limiter.counter_peek(quota.key, ttl=quota.ttl, rebuild=lambda: -1) == 0


@pytest.mark.parametrize(("used", "expected"), [(700, None), (805, "80%"), (955, "95%")])
def test_warnings_at_80_and_95_percent(user_a, fake_provider, used, expected):
    only_openai(user_a, fake_provider)
    default_policy(tokens_per_month=1_000_000)
    usage_record(user=user_a, provider="openai", model="m", input_tokens=used * 1000, output_tokens=0, cost=0)
    fake_provider.reply_text("openai", "hi", usage=(0, 0))

    answer = chat_turn(user=user_a, conversation_id=None, text="hello")

    assert answer.provider == "openai"
    notes = [w for w in answer.warnings if "monthly token quota" in w]
    if expected is None:
        assert notes == []
    else:
        assert len(notes) == 1 and f"(over {expected})" in notes[0] and "resets on" in notes[0]


def test_a_users_own_policy_wins_over_the_default(user_a, user_b, fake_provider):
    only_openai(user_a, fake_provider)
    only_openai(user_b, fake_provider)
    default_policy(tokens_per_month=10)  # nobody gets a call through on this
    UserPolicy.objects.create(user=user_b, tokens_per_month=None)  # ...but user_b's own row says no limit
    fake_provider.reply_text("openai", "for b")

    assert chat_turn(user=user_a, conversation_id=None, text="hello").provider == "offline"
    assert chat_turn(user=user_b, conversation_id=None, text="hello").provider == "openai"


def test_a_monthly_cost_quota_counts_the_configured_prices(user_a, fake_provider):
    only_openai(user_a, fake_provider)
    ProviderConfig.objects.filter(name="openai").update(price_input_per_million=Decimal("1000"),
                                                         price_output_per_million=Decimal("1000"))
    default_policy(cost_per_month=Decimal("1.00"))  # 1,000 tokens at these prices
    usage_record(user=user_a, provider="openai", model="m", input_tokens=990, output_tokens=0, cost=Decimal("0.99"))

    answer = chat_turn(user=user_a, conversation_id=None, text="hello")

    assert answer.provider == "offline" and "monthly spending quota for OpenAI" in " ".join(answer.warnings)


def test_a_provider_requests_per_minute_limit_skips_it_until_the_window_frees(user_a, fake_provider):
    only_openai(user_a, fake_provider)
    ProviderConfig.objects.filter(name="openai").update(requests_per_minute=1)
    fake_provider.reply_text("openai", "one")

    assert chat_turn(user=user_a, conversation_id=None, text="hello").provider == "openai"
    second = chat_turn(user=user_a, conversation_id=None, text="hello again")

    assert second.provider == "offline" and "1 calls per minute" in " ".join(second.warnings)
    assert fake_provider.count("openai") == 1


def test_a_provider_daily_token_quota_counts_every_user(user_a, fake_provider):
    other = make_user("other-user")
    only_openai(user_a, fake_provider)
    ProviderConfig.objects.filter(name="openai").update(tokens_per_day=5000)
    usage_record(user=other, provider="openai", model="m", input_tokens=4990, output_tokens=0, cost=0)

    answer = chat_turn(user=user_a, conversation_id=None, text="hello")

    assert answer.provider == "offline" and "OpenAI's daily token quota" in " ".join(answer.warnings)


def test_after_a_flush_the_first_check_rebuilds_the_period_from_the_usage_rows(user_a, fake_provider):
    only_openai(user_a, fake_provider)
    default_policy(tokens_per_month=1_000_000)
    fake_provider.reply_text("openai", "hi", usage=(990_000, 9_000))  # reported after the call: it fit the bound
    assert chat_turn(user=user_a, conversation_id=None, text="hello").provider == "openai"
    limiter.clear_all()  # Redis restarted empty

    answer = chat_turn(user=user_a, conversation_id=None, text="hello")  # 999,000 recorded + the bound > 1,000,000

    assert answer.provider == "offline" and "used up" in " ".join(answer.warnings)


def test_the_reconcile_task_rolls_usage_up_and_raises_lost_counters(user_a, fake_provider):
    from apps.limits.models import UsageRollup
    from apps.limits.quotas import quotas_for
    from apps.limits.tasks import limits_reconcile_task

    default_policy(tokens_per_month=10_000)
    usage_record(user=user_a, provider="openai", model="m", input_tokens=300, output_tokens=20, cost=Decimal("0.5"))
    usage_record(user=user_a, provider="openai", model="m", input_tokens=100, output_tokens=0, cost=Decimal("0"))
    (quota,) = quotas_for(user=user_a, provider=ProviderConfig.objects.get(name="openai"))
    limiter.counter_set(quota.key, value=5, ttl=60)  # lost increments

    result = limits_reconcile_task()

    rollup = UsageRollup.objects.get(user=user_a, provider="openai")
    assert (rollup.calls, rollup.input_tokens, rollup.output_tokens, rollup.cost) == (2, 400, 20, Decimal("0.5"))
    assert result["counters"] >= 1 and limiter.counter_peek(quota.key, ttl=60) == 420


def test_the_reconcile_schedule_exists_in_the_admin_table():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="limits reconcile and usage roll-up")
    assert task.task == "apps.limits.tasks.limits_reconcile_task" and task.enabled


def test_configure_provider_sets_and_clears_limits_and_the_operator_flag():
    from io import StringIO

    from django.core.management import call_command

    call_command("configure_provider", "openai", "--requests-per-minute", "5", "--tokens-per-day", "90000",
                 "--cost-per-month", "12.50", "--operator-key-for-users", stdout=StringIO())
    openai = ProviderConfig.objects.get(name="openai")
    assert (openai.requests_per_minute, openai.tokens_per_day, openai.cost_per_month) == (5, 90000, Decimal("12.50"))
    assert openai.operator_key_for_users
    call_command("configure_provider", "openai", "--requests-per-minute", "0", "--no-operator-key-for-users",
                 stdout=StringIO())
    openai.refresh_from_db()
    assert openai.requests_per_minute is None and not openai.operator_key_for_users and openai.tokens_per_day == 90000
