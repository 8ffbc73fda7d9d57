"""A chat turn whose save the database failed: its usage and audit rows are spooled, then written once, as they were.

Before the spool the whole transaction was rolled back: the model calls had been made and billed,
but the usage rows (quotas, cost, provider health) and the audit trail of those calls were gone.
The database fails for real here: a statement wrapper raises what the driver layer raises
(DatabaseUnavailable, OperationalError, InterfaceError) in the middle of the transaction.
"""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import timedelta

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit import spool
from apps.audit.chain import chain_verify, checkpoint_seal
from apps.audit.models import AuditEvent, UsageRecord
from apps.audit.spool import FileStore, RedisStore, spool_count, spool_drain
from apps.chat import services
from apps.chat.models import Message
from apps.core.outage import DatabaseUnavailable, cache_outage
from apps.limits.limiter import shared as limiter_shared
from tests.chat.conftest import keyed_user, post_chat  # noqa: F401  (keyed_user: a fixture)
from tests.concurrency import at_once
from tests.services import require_redis

pytestmark = pytest.mark.django_db

CHAT = "/api/v1/chat/"


@contextlib.contextmanager
def database_fails(table: str, error: type[Exception] = DatabaseUnavailable, *, after: int = 0, also=None):
    """The first INSERT into ``table`` on this thread's connection after ``after`` others fails with
    ``error`` (and calls ``also`` then)."""
    seen = {"n": 0}

    def wrapper(execute, sql, params, many, context):
        if sql.startswith(f'INSERT INTO "{table}"'):
            seen["n"] += 1
            if seen["n"] == after + 1:
                if also:
                    also()
                raise error("test: the database went away")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield


@pytest.fixture(params=["redis", "file"])
def spool_store(request, settings):
    """Which spool the entries go to: Redis (needs REDIS_URL), or the local files (no Redis, or Redis down too)."""
    if request.param == "redis":
        require_redis()
    return request.param


@contextlib.contextmanager
def turn_save_fails(store: str, error: type[Exception] = DatabaseUnavailable):
    """The turn's save fails on its usage INSERT; for the file spool Redis is down at that moment too."""
    # For the file spool, Redis (when configured) goes down with the database: the local files take the entry.
    redis_down = cache_outage.failed if store == "file" and limiter_shared() else None
    with database_fails("audit_usagerecord", error, also=redis_down):
        yield


def _failed_turn(client, store: str, text: str = "hello there", *, error=DatabaseUnavailable):
    with turn_save_fails(store, error):
        return client.post(CHAT, {"message": text}, format="json")


def _counts():
    return UsageRecord.objects.count(), AuditEvent.objects.filter(action__in=["provider.attempt", "chat.turn"]).count()


def test_a_turn_whose_save_fails_is_a_503_and_its_usage_and_audit_wait_in_the_spool(
    client_a, keyed_user, providers_at_fake, spool_store, caplog
):
    caplog.set_level(logging.WARNING, logger="apps.audit.spool")
    providers_at_fake.reply_text("openai", "Hi!", usage=(11, 7))
    before = _counts()

    response = _failed_turn(client_a, spool_store)

    # What the user sees, as before: a 503 with Retry-After; the message is not stored (they send it again).
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "service_unavailable" and response["Retry-After"]
    assert providers_at_fake.count("openai") == 1  # the model call was made (and billed)
    assert _counts() == before and not Message.objects.filter(role="assistant").exists()
    assert spool_count()[spool_store] == 1
    assert f"1 usage rows and 2 audit events kept in the {spool_store} spool" in caplog.text


def test_draining_writes_them_once_with_their_original_time_and_the_quota_counts_them(
    client_a, keyed_user, providers_at_fake, spool_store
):
    from apps.limits import limiter
    from apps.limits.models import UserPolicy
    from apps.limits.quotas import quotas_for
    from apps.providers.models import ProviderConfig

    UserPolicy.objects.filter(user=None).update(tokens_per_month=1_000_000)
    providers_at_fake.reply_text("openai", "Hi!", usage=(11, 7))
    assert _failed_turn(client_a, spool_store).status_code == 503
    failed_at = timezone.now()
    [quota] = [q for q in quotas_for(user=keyed_user, provider=ProviderConfig.objects.get(name="openai")) if q.unit == "tokens"]
    assert quota.rebuild() == 0  # without the spool, a counter rebuilt from the rows forgot the turn

    first = spool_drain()
    second = spool_drain()

    assert (first.replayed, first.usage_rows, first.audit_events) == (1, 1, 2)
    assert (second.replayed, second.already) == (0, 0) and spool_count()[spool_store] == 0
    [usage] = UsageRecord.objects.filter(user=keyed_user)
    assert (usage.provider, usage.input_tokens, usage.output_tokens, usage.outcome) == ("openai", 11, 7, "success")
    turn = AuditEvent.objects.get(action="chat.turn", actor=keyed_user)
    attempt = AuditEvent.objects.get(action="provider.attempt", actor=keyed_user)
    assert usage.created_at < failed_at and turn.created_at < failed_at and attempt.created_at < failed_at
    assert turn.metadata["input_tokens"] == 11 and turn.request_id  # the failed request's id, not the drain's
    limiter.clear_all()  # Redis forgot: the counter is rebuilt from the rows
    assert quota.used() == quota.rebuild() == 18


def test_the_replayed_rows_keep_the_audit_chain_valid_across_checkpoints(client_a, keyed_user, providers_at_fake):
    providers_at_fake.reply_text("openai", "Hi!")
    assert _failed_turn(client_a, "file").status_code == 503
    post_chat(client_a, "and again")  # stored normally, after the failed one
    checkpoint_seal(now=timezone.now() + timedelta(hours=1))  # seals the later rows first

    spool_drain()  # lower created_at than sealed rows, higher ids: the next checkpoint takes them
    sealed = checkpoint_seal(now=timezone.now() + timedelta(hours=1))

    assert sealed is not None and sealed.row_count >= 2
    result = chain_verify()
    assert result.ok, result.problem
    from django.core.management import call_command

    call_command("audit_verify")  # the operators' check passes too (it raises on a broken chain)


@pytest.mark.parametrize("error", [OperationalError, InterfaceError, DatabaseUnavailable])
def test_every_kind_of_database_failure_is_spooled(user_a, error):
    with turn_save_fails("file", error), pytest.raises(error):
        services.chat_turn(user=user_a, conversation_id=None, text="add buy milk")  # the offline assistant

    assert spool_count()["file"] == 1
    assert spool_drain().replayed == 1
    assert AuditEvent.objects.filter(action="chat.turn", actor=user_a).count() == 1


def test_a_streamed_turn_ends_with_the_error_event_and_is_spooled(client_a, keyed_user, providers_at_fake, spool_store):
    providers_at_fake.reply_text("openai", "Hi!")
    with turn_save_fails(spool_store):
        response = client_a.post(CHAT, {"message": "hello", "stream": True}, format="json")
        body = b"".join(response.streaming_content).decode()

    assert '"type": "error", "code": "service_unavailable"' in body
    assert spool_count()[spool_store] == 1
    assert spool_drain().replayed == 1


def test_a_drain_the_database_fails_midway_keeps_every_entry_not_committed(client_a, keyed_user, providers_at_fake,
                                                                        spool_store, caplog):  # fmt: skip
    for text in ("one", "two", "three"):
        providers_at_fake.reply_text("openai", text)
        assert _failed_turn(client_a, spool_store, text).status_code == 503
    cache_outage.reset()  # Redis is back (for the file spool's case)

    # The first entry commits; the second's audit INSERT (after its usage INSERT) fails.
    with database_fails("audit_auditevent", OperationalError, after=1):
        crashed = spool_drain()

    assert crashed.replayed == 1 and crashed.left
    assert spool_count()[spool_store] == 2 and "spool drain stopped" in caplog.text
    assert UsageRecord.objects.filter(user=keyed_user).count() == 1
    spool_drain()
    assert UsageRecord.objects.filter(user=keyed_user).count() == 3
    assert AuditEvent.objects.filter(action="chat.turn", actor=keyed_user).count() == 3


def test_a_replay_rolled_back_by_the_database_leaves_nothing_half_written(user_a):
    with turn_save_fails("file"), pytest.raises(DatabaseUnavailable):
        services.chat_turn(user=user_a, conversation_id=None, text="add buy milk")

    with database_fails("audit_auditevent", OperationalError):  # after the usage INSERT of the replay
        report = spool_drain()

    assert report.replayed == 0 and report.left and spool_count()["file"] == 1
    assert not UsageRecord.objects.filter(user=user_a).exists()
    again = spool_drain()
    assert again.replayed == 1 and UsageRecord.objects.filter(user=user_a).count() == again.usage_rows > 0


def test_a_commit_whose_answer_was_lost_is_not_stored_twice(user_a, monkeypatch):
    real = services._store_turn

    def committed_then_lost(**kwargs):
        real(**kwargs)  # the rows are in
        raise OperationalError("test: the connection dropped before the commit's answer")

    monkeypatch.setattr(services, "_store_turn", committed_then_lost)
    with pytest.raises(OperationalError):
        services.chat_turn(user=user_a, conversation_id=None, text="add buy milk")
    rows = _counts()

    report = spool_drain()

    assert (report.replayed, report.already) == (0, 1) and spool_count()["file"] == 0
    assert _counts() == rows


def test_the_next_successful_turn_of_that_process_drains_the_spool(user_a, django_capture_on_commit_callbacks):
    with turn_save_fails("file"), pytest.raises(DatabaseUnavailable):
        services.chat_turn(user=user_a, conversation_id=None, text="add buy milk")

    with django_capture_on_commit_callbacks(execute=True):
        services.chat_turn(user=user_a, conversation_id=None, text="add buy eggs")

    assert spool_count()["file"] == 0
    assert AuditEvent.objects.filter(action="chat.turn", actor=user_a).count() == 2
    assert spool._pending is False


def test_with_nothing_spooled_a_turn_touches_no_spool_store(user_a, monkeypatch, django_capture_on_commit_callbacks):
    services.chat_turn(user=user_a, conversation_id=None, text="add buy milk")  # the process's one look at its files
    touched = []
    for store in (RedisStore, FileStore):
        for name in ("put", "peek", "count", "remove", "_do", "_entries"):
            real = getattr(store, name, None)
            if real is None:
                continue
            monkeypatch.setattr(store, name, lambda *a, _n=name, _r=real, **k: touched.append(_n) or _r(*a, **k))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.chat_turn(user=user_a, conversation_id=None, text="add buy eggs")

    assert touched == []  # no Redis round trip, no file system call
    assert all(getattr(c, "__name__", "") != "_drain_now" for c in callbacks)


def test_a_deleted_users_usage_goes_with_them_and_their_events_stay(user_a):
    username = user_a.username
    with turn_save_fails("file"), pytest.raises(DatabaseUnavailable):
        services.chat_turn(user=user_a, conversation_id=None, text="hello")  # no task: the user can be deleted
    user_a.delete()

    assert spool_drain().replayed == 1
    turn = AuditEvent.objects.get(action="chat.turn", actor_username=username)
    assert turn.actor_id is None and not UsageRecord.objects.exists()
    assert chain_verify().ok


def test_an_entry_that_cannot_be_written_is_set_aside_and_the_others_go_on(user_a, settings, caplog):
    for text in ("add buy milk", "add buy eggs"):
        with turn_save_fails("file"), pytest.raises(DatabaseUnavailable):
            services.chat_turn(user=user_a, conversation_id=None, text=text)
    [first, _] = sorted(settings.AUDIT_SPOOL_DIR.glob("*.json"))
    entry = json.loads(first.read_bytes())
    entry["events"][0]["metadata"]["outcome"] = "forged"  # no longer matches its hash
    first.write_text(json.dumps(entry))

    report = spool_drain()

    assert (report.replayed, report.set_aside) == (1, 1)
    assert (settings.AUDIT_SPOOL_DIR / "dead" / first.name).exists()
    assert f"entry {entry['id']} in the file spool was set aside" in caplog.text  # as --list names it
    assert chain_verify().ok


def test_with_no_store_left_one_error_line_with_counts_and_still_the_503(client_a, keyed_user, providers_at_fake,
                                                                        settings, tmp_path, caplog):  # fmt: skip
    (tmp_path / "not-a-folder").write_text("")
    settings.AUDIT_SPOOL_DIR = tmp_path / "not-a-folder" / "spool"
    providers_at_fake.reply_text("openai", "Hi!")

    response = _failed_turn(client_a, "file")

    assert response.status_code == 503
    [line] = [r for r in caplog.records if r.name == "apps.audit.spool" and r.levelno == logging.ERROR]
    assert "1 usage rows and 2 audit events could not be spooled either" in line.getMessage()
    assert str(tmp_path) not in line.getMessage()


def test_the_spooled_entry_holds_no_provider_key(providers_at_fake, spool_store, caplog):
    from apps.keys.vault import provider_key_create
    from apps.providers.services import provider_preference_set
    from tests.factories import make_token, make_user
    from tests.keys.conftest import CANARY

    caplog.set_level(logging.DEBUG)
    user = make_user("canary-owner")
    provider_key_create(user=user, provider_name="openai", key=CANARY)
    provider_preference_set(user=user, provider_name="openai")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user)}")
    providers_at_fake.reply_text("openai", "Hi!")

    assert _failed_turn(client, spool_store).status_code == 503
    assert providers_at_fake.last("openai").api_key() == CANARY  # the key really was used

    store = RedisStore() if spool_store == "redis" else FileStore()
    [(_, raw)] = store.peek(10)
    for place, text in {"the spooled entry": raw.decode(), "the logs": caplog.text}.items():
        assert CANARY not in text and CANARY[4:] not in text, f"the canary key leaked into {place}"
    assert "canary-owner" in raw.decode()  # it is this turn's entry
    if spool_store == "file":
        [path] = FileStore().dir.glob("*.json")
        assert oct(path.stat().st_mode & 0o777) == "0o600"  # user names and addresses: not for every local user


def test_the_drain_runs_every_minute_from_a_schedule_made_by_a_data_migration():
    from django_celery_beat.models import PeriodicTask

    from config.celery import app

    app.loader.import_default_modules()
    task = PeriodicTask.objects.get(name="audit: write spooled usage and audit")
    assert task.task == "apps.audit.tasks.audit_spool_drain_task" and task.enabled
    assert task.crontab.minute == "*" and task.task in app.tasks


@pytest.mark.django_db(transaction=True)
def test_two_drainers_at_once_write_each_entry_once(user_a, spool_store):
    # Beat's drain and a web process's drain after a turn may run together: both read the same
    # entries. On PostgreSQL the second waits for the first's lock, then finds the rows stored.
    for text in ("hello", "hi", "hey"):
        with turn_save_fails(spool_store), pytest.raises(DatabaseUnavailable):
            services.chat_turn(user=user_a, conversation_id=None, text=text)
    cache_outage.reset()
    reports = at_once(spool_drain, 2)
    spool_drain()  # whatever a drainer the database refused (SQLite's lock) left

    assert sum(r.replayed for r in reports) <= 3 and spool_count()[spool_store] == 0
    assert AuditEvent.objects.filter(action="chat.turn", actor=user_a).count() == 3
    assert UsageRecord.objects.filter(user=user_a).count() == 3
    assert chain_verify().ok


# -- what operators see ------------------------------------------------------------------------------


def _scrape(client, settings) -> dict[tuple[str, str], float]:
    from prometheus_client.parser import text_string_to_metric_families

    settings.METRICS_TOKEN = "metrics-secret-123456"
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret-123456").content.decode()
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "todoassist_audit_spool_entries"]
    return {(s.labels["store"], s.labels["state"]): s.value for s in family.samples}


def _audit_spool(*args: str) -> str:
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("audit_spool", *args, stdout=out)
    return out.getvalue()


def _spool_turns(user, store: str, texts: tuple[str, ...]) -> None:
    for text in texts:
        with turn_save_fails(store), pytest.raises(DatabaseUnavailable):
            services.chat_turn(user=user, conversation_id=None, text=text)
    cache_outage.reset()  # Redis is back (for the file spool's case)


def _set_aside_by_a_bug(monkeypatch, count: int) -> None:
    """The next ``count`` entries the drain reads fail with a bug (fixed afterwards): they go to the dead letters."""
    real, left = spool._replay, {"n": count}

    def buggy(entry):
        if left["n"]:
            left["n"] -= 1
            raise RuntimeError("test: a bug in the replay")
        return real(entry)

    monkeypatch.setattr(spool, "_replay", buggy)


def test_metrics_the_admin_and_audit_spool_show_pending_and_dead_entries_per_store(
    client, user_a, spool_store, settings, monkeypatch
):
    from django.contrib.auth import get_user_model

    _spool_turns(user_a, spool_store, ("add buy milk", "add buy eggs", "add buy tea"))
    assert _scrape(client, settings)[(spool_store, "pending")] == 3
    _set_aside_by_a_bug(monkeypatch, 1)
    spool_drain(batch=2)  # one set aside, one written, one still waiting

    # The scrape and the admin count: an LLEN or a directory read, no entry opened.
    for store in (RedisStore, FileStore):
        monkeypatch.setattr(store, "peek", lambda *a, **k: pytest.fail("counting read an entry"))
    seen = _scrape(client, settings)
    assert seen[(spool_store, "pending")] == 1 and seen[(spool_store, "dead")] == 1
    staff = get_user_model().objects.create_user("spool-boss", password="pw-for-tests-123", is_staff=True, is_superuser=True)
    client.force_login(staff)
    page = client.get("/admin/audit/auditevent/").content.decode()
    assert f"Audit spool ({spool_store}): 1 entries set aside as unwritable, 1 waiting" in page
    monkeypatch.undo()

    out = _audit_spool("--list")
    assert f"{spool_store}" in out and "1 pending, 1 dead" in out
    [dead_line] = [line for line in out.splitlines() if f"{spool_store} dead " in line]
    assert dead_line.endswith(": 2 usage rows, 3 audit events")  # the offline assistant's turn: two steps
    assert dead_line.split()[2] in {e.id for e in spool.spool_entries(dead=True)[spool_store]}
    assert user_a.username not in out and "buy" not in out  # ids, times and counts only


def test_requeue_dead_puts_them_back_and_drain_writes_each_once(user_a, spool_store, monkeypatch):
    _spool_turns(user_a, spool_store, ("add buy milk", "add buy eggs"))
    _set_aside_by_a_bug(monkeypatch, 2)
    assert spool_drain().set_aside == 2 and spool_count(dead=True)[spool_store] == 2
    assert AuditEvent.objects.filter(action="chat.turn", actor=user_a).count() == 0

    # The operator fixed the bug: back to pending, then written now.
    out = _audit_spool("--requeue-dead", "--drain")

    assert "requeued: " in out and f"{spool_store} 2" in out
    assert "drained: 2 entries written" in out and "0 pending, 0 dead" in out
    assert AuditEvent.objects.filter(action="chat.turn", actor=user_a).count() == 2
    assert _audit_spool("--requeue-dead", "--drain").count("drained: 0 entries written") == 1  # nothing twice
    assert AuditEvent.objects.filter(action="chat.turn", actor=user_a).count() == 2
    assert chain_verify().ok


def test_a_spool_folder_that_cannot_be_read_shows_as_minus_one_and_the_command_fails(client, settings, tmp_path):
    from django.core.management.base import CommandError

    (tmp_path / "not-a-folder").write_text("")
    settings.AUDIT_SPOOL_DIR = tmp_path / "not-a-folder" / "spool"

    assert _scrape(client, settings)[("file", "pending")] == -1
    with pytest.raises(CommandError, match="the file spool cannot be read"):
        _audit_spool()


def test_a_requeued_entry_that_still_cannot_be_written_is_set_aside_again(settings):
    dead = settings.AUDIT_SPOOL_DIR / "dead"
    dead.mkdir(parents=True)
    (dead / "00000000000000000001-x.json").write_bytes(b"\x1b[2Jnot json")

    assert "  file dead (unreadable) spooled ?: 0 usage rows, 0 audit events" in _audit_spool("--list")
    out = _audit_spool("--requeue-dead", "--drain")

    assert out.startswith("requeued: ") and "file 1" in out.splitlines()[0]
    assert "0 entries written" in out and "1 set aside" in out
    assert spool.spool_status()["file"] == {"pending": 0, "dead": 1}
