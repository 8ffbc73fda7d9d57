"""/settings/keys/: with a real worker, a validation is "checking" until its result arrives; the row asks
for itself again (htmx, bounded) and says when the key was last checked."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.keys.models import ProviderKey
from apps.keys.selectors import KEY_CHECKING_WINDOW, provider_keys_checking
from apps.providers.tasks import provider_key_validate_task
from apps.keys.vault import provider_key_mark
from apps.web.views import KEY_POLL_MAX, KEY_POLL_SECONDS
from tests.factories import audit_events_backdate
from tests.web.a11y import accessibility_problems
from tests.web.conftest import make_key

HTMX = {"HX-Request": "true"}


@pytest.fixture
def queued(monkeypatch) -> list:
    """A broker that takes the task and a worker that has not run it yet."""
    sent: list = []
    monkeypatch.setattr("apps.providers.validation._runs_inline", lambda: False)
    monkeypatch.setattr(
        provider_key_validate_task, "apply_async", lambda args=(), kwargs=None, **options: sent.append((tuple(args), kwargs or {}))
    )
    return sent


def request_validation(client, key, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(f"/settings/keys/{key.pk}/validate/", headers=HTMX).content.decode()


def polls(row: str) -> str | None:
    match = re.search(r'hx-get="([^"]+)" hx-trigger="load delay:(\d+)s" hx-swap="outerHTML"', row)
    return match and f"{match.group(1)} every {match.group(2)}s"


def worker_finishes(key, *, accepted=True):
    with transaction.atomic():
        provider_key_mark(
            key_id=key.pk,
            status=ProviderKey.Status.ACTIVE if accepted else ProviderKey.Status.INVALID,
            detail="openai accepted this key." if accepted else "openai refused this key (HTTP 401).",
            validated=True,
        )


def test_a_queued_validation_shows_checking_and_the_row_polls(page_a, user_a, queued, django_capture_on_commit_callbacks):
    key = make_key(user_a, label="work")
    row = request_validation(page_a, key, django_capture_on_commit_callbacks)

    assert queued == [((key.pk,), {})]  # the task got the id only
    assert "checking…" in row and '<span class="status-detail" role="status">Checking with OpenAI…</span>' in row and "Never checked" in row
    assert polls(row) == f"/settings/keys/{key.pk}/row/?poll=1 every {KEY_POLL_SECONDS}s"
    assert accessibility_problems(row) == []

    # Each ask counts; a reload keeps the state (it is stored, not in the page).
    again = page_a.get(f"/settings/keys/{key.pk}/row/?poll=1", headers=HTMX).content.decode()
    assert polls(again) == f"/settings/keys/{key.pk}/row/?poll=2 every {KEY_POLL_SECONDS}s"
    assert 'role="status"' not in again  # announced once, not at every ask
    page = page_a.get("/settings/keys/").content.decode()
    assert polls(page) == f"/settings/keys/{key.pk}/row/?poll=1 every {KEY_POLL_SECONDS}s"


def test_the_row_stops_polling_with_the_result_and_says_when_it_checked(
    page_a, user_a, queued, django_capture_on_commit_callbacks
):
    key = make_key(user_a)
    request_validation(page_a, key, django_capture_on_commit_callbacks)
    worker_finishes(key, accepted=False)

    row = page_a.get(f"/settings/keys/{key.pk}/row/?poll=3", headers=HTMX).content.decode()
    assert polls(row) is None and "checking" not in row
    assert re.search(r'<span class="status-detail" role="status">openai refused this key \(HTTP 401\)\.</span>', row)
    assert re.search(r'Last checked <time datetime="[^"]+" title="[^"]+">0\xa0minutes ago</time>', row)


def test_polling_is_bounded(page_a, user_a, queued, django_capture_on_commit_callbacks):
    key = make_key(user_a)
    request_validation(page_a, key, django_capture_on_commit_callbacks)

    last = page_a.get(f"/settings/keys/{key.pk}/row/?poll={KEY_POLL_MAX}", headers=HTMX).content.decode()
    assert polls(last) is None and "reload the page later" in last
    for mangled in ("99999", "x", "1e9", ""):
        row = page_a.get(f"/settings/keys/{key.pk}/row/?poll={mangled}", headers=HTMX).content.decode()
        assert polls(row) is None if mangled != "" else polls(row).endswith(f"?poll=1 every {KEY_POLL_SECONDS}s")
    negative = page_a.get(f"/settings/keys/{key.pk}/row/?poll=-7", headers=HTMX).content.decode()
    assert "?poll=1 " in polls(negative)

    # Across reloads too: a request older than the window (its task lost, the worker down) is no longer awaited.
    audit_events_backdate(
        AuditEvent.objects.filter(action="provider_key.validate_requested"),
        timezone.now() - KEY_CHECKING_WINDOW - timedelta(seconds=1),
    )
    page = page_a.get("/settings/keys/").content.decode()
    assert polls(page) is None and "checking" not in page


def test_only_active_or_invalid_keys_of_this_user_can_be_checking(user_a, user_b, queued, page_a, page_b,
                                                                   django_capture_on_commit_callbacks):
    mine, expired, theirs = make_key(user_a), make_key(user_a, label="old"), make_key(user_b)
    for key in (mine, expired):
        request_validation(page_a, key, django_capture_on_commit_callbacks)
    request_validation(page_b, theirs, django_capture_on_commit_callbacks)
    ProviderKey.objects.filter(pk=expired.pk).update(status=ProviderKey.Status.EXPIRED)

    keys = list(ProviderKey.objects.filter(pk__in=[mine.pk, expired.pk, theirs.pk]))
    assert provider_keys_checking(user=user_a, keys=keys) == {mine.pk}


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_result_comes_at_once_and_nothing_polls(page_a, user_a, providers_at_fake):
    key = make_key(user_a, key="sk-good-key-1234")
    row = page_a.post(f"/settings/keys/{key.pk}/validate/", headers=HTMX).content.decode()
    assert "accepted this key" in row and polls(row) is None and "Last checked" in row


def test_the_row_outside_htmx_goes_back_to_the_list(page_a, user_a):
    key = make_key(user_a)
    response = page_a.get(f"/settings/keys/{key.pk}/row/")
    assert response.status_code == 302 and response["Location"] == "/settings/keys/"
