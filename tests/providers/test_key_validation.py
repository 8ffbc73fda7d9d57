"""Validating a provider key: no retries in the request, Retry-After honoured, a broker outage is a 503."""

from __future__ import annotations

import socket
import time

import pytest
from celery.signals import before_task_publish
from kombu import pools as kombu_pools

from apps.audit.models import AuditEvent
from apps.keys.models import ProviderKey
from apps.keys.vault import provider_key_create
from config.celery import app as celery_app
from tests.keys.conftest import CANARY

pytestmark = pytest.mark.django_db


def validate_url(key_id) -> str:
    return f"/api/v1/keys/{key_id}/validate/"


@pytest.fixture
def key(user_a, providers_at_fake):
    return provider_key_create(user=user_a, provider_name="openai", key=CANARY, label="work")


def _reset_broker_pools():
    # The app keeps its connection and producer pools, taken from kombu's process-wide registry
    # (keyed by broker URL): drop both, or the next test with the same URL gets a closed pool.
    kombu_pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_url():
    """Run tasks through a real broker connection (not eagerly) at the URL the test sets."""
    previous = celery_app.conf.task_always_eager, celery_app.conf.broker_url
    _reset_broker_pools()

    def use(url: str) -> None:
        celery_app.conf.task_always_eager, celery_app.conf.broker_url = False, url
        _reset_broker_pools()

    yield use
    celery_app.conf.task_always_eager, celery_app.conf.broker_url = previous
    _reset_broker_pools()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens here once the socket is closed


@pytest.fixture
def page_a(user_a):
    from django.test import Client

    client = Client()
    client.force_login(user_a)
    return client


def requested_events(key_id) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="provider_key.validate_requested", target_id=str(key_id)))


# --- without a worker (the embedded default): one bounded attempt in the request ------------------


def test_a_rate_limited_check_is_tried_once_and_notes_when_to_try_again(client_a, key, providers_at_fake):
    providers_at_fake.fault("models", "rate_limited", retry_after="30")

    started = time.monotonic()
    response = client_a.post(validate_url(key.pk))
    elapsed = time.monotonic() - started

    assert response.status_code == 202, response.content
    assert len(providers_at_fake.requests_to("models")) == 1  # no retries stacked in the request
    assert elapsed < 5  # Retry-After (30 s) is not waited out in the request (slack: a busy machine)
    body = response.json()
    assert body["status"] == "active"  # the key is not condemned for the provider being busy
    assert "rate limiting" in body["status_detail"] and "Try again after" in body["status_detail"]
    assert any(f"(in {s} s)" in body["status_detail"] for s in (29, 30))


def test_asking_again_before_retry_after_has_passed_does_not_call_the_provider(client_a, key, providers_at_fake):
    providers_at_fake.fault("models", "rate_limited", retry_after="30")
    client_a.post(validate_url(key.pk))

    again = client_a.post(validate_url(key.pk))

    assert again.status_code == 429
    error = again.json()["error"]
    assert error["code"] == "provider_key_validation_deferred" and "try validating this key again after" in error["message"]
    assert 28 <= error["extra"]["retry_after"] <= 30
    assert len(providers_at_fake.requests_to("models")) == 1


def test_a_check_may_run_again_once_retry_after_has_passed(client_a, key, providers_at_fake):
    providers_at_fake.fault("models", "rate_limited", retry_after="1")
    client_a.post(validate_url(key.pk))
    time.sleep(2.3)  # the first wait is never under 2 s (the backoff floor), Retry-After: 1 or not

    response = client_a.post(validate_url(key.pk))

    assert response.status_code == 202 and response.json()["status_detail"].endswith("accepted this key.")
    assert len(providers_at_fake.requests_to("models")) == 2


def test_a_hanging_provider_is_cut_off_at_the_short_inline_timeout(client_a, key, providers_at_fake, settings):
    settings.KEY_VALIDATION_INLINE_TIMEOUT_SECONDS = 1.0
    providers_at_fake.fault("models", "slow", delay=20)

    started = time.monotonic()
    response = client_a.post(validate_url(key.pk))
    elapsed = time.monotonic() - started

    assert response.status_code == 202, response.content
    assert elapsed < 4, f"the request was held {elapsed:.1f} s"  # 1 s limit + slack for a busy machine
    assert len(providers_at_fake.requests_to("models")) == 1
    assert "did not answer in time" in response.json()["status_detail"]


def test_the_default_inline_timeout_is_short():
    from django.conf import settings

    assert 0 < settings.KEY_VALIDATION_INLINE_TIMEOUT_SECONDS <= 5


def test_a_provider_error_in_the_request_is_not_retried(client_a, key, providers_at_fake):
    for _ in range(4):
        providers_at_fake.fault("models", "unavailable")

    response = client_a.post(validate_url(key.pk))

    assert response.status_code == 202
    assert len(providers_at_fake.requests_to("models")) == 1
    assert "Try again after" in response.json()["status_detail"]
    assert [e.outcome for e in requested_events(key.pk)] == ["success"]


# --- with a broker -----------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_an_unreachable_broker_is_a_503_and_audited_as_a_failure(client_a, key, broker_url, providers_at_fake, scheme):
    url = f"redis://127.0.0.1:{closed_port()}/0" if scheme == "redis" else f"amqp://guest:guest@127.0.0.1:{closed_port()}//"
    broker_url(url)

    started = time.monotonic()
    response = client_a.post(validate_url(key.pk))
    elapsed = time.monotonic() - started

    assert response.status_code == 503, response.content
    error = response.json()["error"]
    assert error["code"] == "task_queue_unavailable" and "task queue is unavailable" in error["message"]
    assert elapsed < 5
    events = requested_events(key.pk)
    assert [(e.outcome, e.metadata.get("reason")) for e in events] == [("failure", "broker_unavailable")]
    record = ProviderKey.objects.get(pk=key.pk)
    assert record.status == "active" and "task queue was unavailable" in record.status_detail
    assert providers_at_fake.requests_to("models") == []


def test_an_unreachable_broker_on_the_keys_page_shows_a_message(page_a, key, broker_url):
    broker_url(f"redis://127.0.0.1:{closed_port()}/0")

    response = page_a.post(f"/settings/keys/{key.pk}/validate/", follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert "task queue is unavailable" in page and "…" + CANARY[-4:] in page  # message, and the list still there
    assert page_a.get("/settings/keys/").status_code == 200
    assert [e.outcome for e in requested_events(key.pk)] == ["failure"]


def test_an_unreachable_broker_with_htmx_swaps_in_the_row_with_the_message(page_a, key, broker_url):
    broker_url(f"amqp://guest:guest@127.0.0.1:{closed_port()}//")

    response = page_a.post(f"/settings/keys/{key.pk}/validate/", headers={"HX-Request": "true"})

    assert response.status_code == 200  # htmx swaps only 2xx answers
    row = response.content.decode()
    assert row.lstrip().startswith(f'<tr id="key-{key.pk}"') and "task queue is unavailable" in row
    assert 'role="status"' in row and "Validate" in row  # announced, and the button is still there
    assert [e.outcome for e in requested_events(key.pk)] == ["failure"]


def test_after_a_broker_failure_the_next_validations_answer_at_once_until_the_window_ends(
    client_a, key, broker_url, providers_at_fake, settings
):
    """A black-holed broker costs one request its timeouts; the next ones in the window a 503 at once."""
    from apps.core.outage import broker_outage
    from apps.core.views import broker_transport_options
    from tests.core.test_outbound_timeouts import black_hole

    settings.BROKER_RETRY_AFTER_SECONDS = 1.5
    options = celery_app.conf.get("broker_transport_options")
    try:
        with black_hole() as port:
            url = f"redis://127.0.0.1:{port}/0"
            # What the base settings give a process whose CELERY_BROKER_URL is a Redis URL (its timeouts).
            celery_app.conf.broker_transport_options = broker_transport_options(url)
            broker_url(url)
            started = time.monotonic()
            first = client_a.post(validate_url(key.pk))
            first_took = time.monotonic() - started
            started = time.monotonic()
            second = client_a.post(validate_url(key.pk))
            second_took = time.monotonic() - started
    finally:
        celery_app.conf.broker_transport_options = options
    assert first.status_code == second.status_code == 503
    assert second.json()["error"]["code"] == "task_queue_unavailable"
    assert first_took > 1 and second_took < 0.5, (first_took, second_took)  # without the window: both > 1 s
    assert [(e.outcome, e.metadata.get("reason")) for e in requested_events(key.pk)] == [("failure", "broker_unavailable")] * 2
    time.sleep(1.6)  # the window is over: the next one tries the broker again, and it is back
    broker_url("memory://")
    assert client_a.post(validate_url(key.pk)).status_code == 202
    assert not broker_outage.is_down() and broker_outage._since is None  # recovered


def test_a_reachable_broker_queues_the_check_and_audits_success(client_a, key, broker_url, providers_at_fake):
    published: list[dict] = []

    def record(sender=None, body=None, **kwargs):
        published.append({"task": sender, "args": list(body[0]) if body else None})

    broker_url("memory://")
    before_task_publish.connect(record, weak=False)
    try:
        response = client_a.post(validate_url(key.pk))
    finally:
        before_task_publish.disconnect(record)

    assert response.status_code == 202
    assert published == [{"task": "apps.providers.tasks.provider_key_validate_task", "args": [key.pk]}]
    assert [(e.outcome, e.metadata) for e in requested_events(key.pk)] == [("success", {"mode": "queued"})]
    assert providers_at_fake.requests_to("models") == []  # a worker runs it, not the request


def test_messages_queued_under_the_old_task_name_still_run(key, providers_at_fake):
    legacy = celery_app.tasks["apps.keys.tasks.provider_key_validate_task"]

    assert legacy.apply(args=(key.pk,)).get() == "active"
    assert len(providers_at_fake.requests_to("models")) == 1


def test_the_worker_waits_at_least_retry_after_between_tries(key, providers_at_fake, monkeypatch):
    from apps.providers import tasks

    countdowns: list[float] = []
    original = tasks.provider_key_validate_task.retry

    def spy(*args, countdown=None, **kwargs):
        countdowns.append(countdown)
        return original(*args, countdown=countdown, **kwargs)

    monkeypatch.setattr(tasks.provider_key_validate_task, "retry", spy)
    providers_at_fake.fault("models", "rate_limited", retry_after="30")

    assert tasks.provider_key_validate_task.apply(args=(key.pk,)).get() == "active"
    assert countdowns == [30.0]
    assert len(providers_at_fake.requests_to("models")) == 2
