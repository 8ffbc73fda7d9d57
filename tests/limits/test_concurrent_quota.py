"""50 concurrent chat turns against a 10,000-token monthly quota: the recorded usage never exceeds it.

Real threads with their own database connections (PostgreSQL) and the limiter on real Redis when
REDIS_URL is set (local memory otherwise). The fake provider reports a fixed usage per call.
"""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.models import Sum

from apps.audit.models import UsageRecord
from apps.chat.services import chat_turn
from apps.keys.vault import provider_key_create
from apps.limits.models import UserPolicy
from apps.providers.models import ProviderConfig
from apps.providers.services import provider_preference_set
from tests.factories import make_user
from tests.services import require_postgres

pytestmark = pytest.mark.django_db(transaction=True)

# The 10,000. A call's reservation is its UTF-8 byte count (system prompt, tool schemas, the
# message) plus max_tokens; with all 17 todo tools offered that alone is above 10,000, so the operator
# here offers the chat two tools (the registry's switch), as a small deployment might.
QUOTA = 10_000
PER_CALL = (1_500, 500)  # 2,000 tokens a call: at most 5 fit
OFFERED_TOOLS = ("add_task", "list_tasks")


@pytest.fixture
def shared_limiter(settings):
    url = os.environ.get("REDIS_URL", "")
    if url:
        from config.settings.base import redis_cache

        settings.CACHES = {"default": redis_cache(url)}
        settings.LIMITS_KEY_PREFIX = f"test-{uuid.uuid4().hex[:8]}"
    yield
    from apps.limits import limiter

    limiter.clear_all()


def test_50_concurrent_turns_never_overshoot_the_monthly_quota(shared_limiter, fake_provider, settings):
    require_postgres()
    settings.CHAT_MAX_OUTPUT_TOKENS = 500
    from apps.mcp_tools.models import ToolRegistration

    ToolRegistration.objects.exclude(name__in=OFFERED_TOOLS).update(enabled=False)
    from apps.core.localcache import clear_all_local

    clear_all_local()  # update() bypasses the registry copy's invalidation signals
    user = make_user("quota-racer")
    ProviderConfig.objects.filter(name="openai").update(base_url=fake_provider.openai_base_url)
    provider_key_create(user=user, provider_name="openai", key="sk-openai-quota-race-01")
    provider_preference_set(user=user, provider_name="openai")
    UserPolicy.objects.update_or_create(user=None, defaults={"tokens_per_month": QUOTA})
    for _ in range(50):
        fake_provider.reply_text("openai", "done", usage=PER_CALL)

    def turn(i):
        try:
            return chat_turn(user=user, conversation_id=None, text=f"note {i}")
        finally:
            connection.close()

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(turn, range(50)))

    used = UsageRecord.objects.filter(user=user, provider="openai").aggregate(
        t=Sum("input_tokens") + Sum("output_tokens"))["t"] or 0
    assert 0 < used <= QUOTA, answers[0].warnings
    answered = [a for a in answers if a.provider == "openai"]
    refused = [a for a in answers if a.provider != "openai"]
    assert len(answered) == used // sum(PER_CALL) and refused
    for answer in refused:
        assert answer.provider == "offline" and answer.fallback_used
        assert "your monthly token quota for OpenAI (10,000 tokens) is used up" in " ".join(answer.warnings)
    assert UsageRecord.objects.filter(user=user, provider="openai", outcome="refused").count() == len(refused)
