"""Usage rows and audit events the database failed to store, kept outside it and written later, once."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, models, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

# The errors that mean "the database did not answer" (DatabaseUnavailable is an OperationalError):
# what was being written is kept. Anything else (a constraint, a bug) is not an outage.
DATABASE_DOWN = (OperationalError, InterfaceError)

# Every entry's last audit event carries the entry's id in its metadata under this key, in the
# database too when the original transaction did commit: a replay that finds it there (a commit
# whose answer was lost, a drain that crashed before removing the entry) writes nothing.
WRITE_ID = "write_id"

DRAIN_BATCH = 100  # entries per store per beat run
SOON_BATCH = 20  # entries per store drained after a turn's successful save (in that request)


# -- what an entry holds --------------------------------------------------------------------------------


def _dump(obj: models.Model) -> dict[str, Any]:
    """The concrete fields (no id) in a form to_python reads back exactly (microseconds, decimals)."""
    out: dict[str, Any] = {}
    for field in type(obj)._meta.concrete_fields:
        if field.primary_key:
            continue
        value = getattr(obj, field.attname)
        if isinstance(field, models.JSONField) or value is None:
            out[field.attname] = value
        else:
            out[field.attname] = field.value_to_string(obj)
    return out


def _load(model: type[models.Model], data: dict[str, Any]) -> models.Model:
    kwargs = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.attname not in data:
            continue  # a field added since the entry was written keeps its default
        value = data[field.attname]
        kwargs[field.attname] = value if isinstance(field, models.JSONField) or value is None else field.to_python(value)
    return model(**kwargs)


def _encode(*, entry_id: str, usage: list, events: list, created_at) -> bytes:
    for record in usage:
        record.created_at = created_at  # auto_now_add would stamp the replay time
    return json.dumps(
        {
            "v": 1,
            "id": entry_id,
            "spooled_at": timezone.now().isoformat(),
            "usage": [_dump(record) for record in usage],
            "events": [_dump(event) for event in events],
        },
        separators=(",", ":"),
    ).encode()


# -- where entries wait -------------------------------------------------------------------------------------


class StoreError(Exception):
    """A store could not be read or written."""


class RedisStore:
    """A Redis list: RPUSH to the tail, the drain reads from the head and removes an entry (LREM of
    its exact bytes) only after its rows committed. A drainer that dies in between leaves the entry
    in place; the next one finds its rows stored (WRITE_ID) and only removes it."""

    name = "redis"

    def __init__(self) -> None:
        prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
        self.key = f"{prefix}:audit:spool" if prefix else "audit:spool"
        self.dead_key = self.key + ":dead"

    @staticmethod
    def available() -> bool:
        from apps.core.outage import cache_outage

        return "django_redis" in settings.CACHES["default"]["BACKEND"] and not cache_outage.is_down()

    def _client(self):
        from django_redis import get_redis_connection

        return get_redis_connection("default")

    def _do(self, method: str, *args):
        from redis.exceptions import RedisError

        try:
            return getattr(self._client(), method)(*args)
        except (RedisError, OSError) as exc:
            raise StoreError(type(exc).__name__) from None

    def put(self, entry_id: str, raw: bytes) -> None:
        self._do("rpush", self.key, raw)

    def peek(self, limit: int, *, dead: bool = False) -> list[tuple[Any, bytes]]:
        return [(raw, raw) for raw in self._do("lrange", self.dead_key if dead else self.key, 0, limit - 1)]

    def remove(self, handle: bytes) -> None:
        self._do("lrem", self.key, 1, handle)

    def bury(self, handle: bytes) -> None:
        from redis.exceptions import RedisError

        try:
            pipe = self._client().pipeline(transaction=True)  # MULTI/EXEC: moved, never lost or doubled
            pipe.rpush(self.dead_key, handle)
            pipe.lrem(self.key, 1, handle)
            pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreError(type(exc).__name__) from None

    def count(self, *, dead: bool = False) -> int:
        return int(self._do("llen", self.dead_key if dead else self.key))

    def requeue_dead(self) -> int:
        moved = 0
        # One at a time, atomically; at most the entries there now (a drain may set some aside again meanwhile).
        for _ in range(self.count(dead=True)):
            if self._do("lmove", self.dead_key, self.key, "LEFT", "RIGHT") is None:
                break
            moved += 1
        return moved

    def clear(self) -> None:
        self._do("delete", self.key, self.dead_key)


class FileStore:
    """One file per entry in AUDIT_SPOOL_DIR, written whole or not at all (a temporary file, fsync,
    rename, fsync of the folder), removed only after its rows committed. Local to its host."""

    name = "file"

    def __init__(self) -> None:
        self.dir = Path(settings.AUDIT_SPOOL_DIR)

    def put(self, entry_id: str, raw: bytes) -> None:
        name = f"{time.time_ns():020d}-{entry_id}.json"
        temp = self.dir / f".{name}.tmp"
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # user names, addresses: not for all
            try:
                os.write(fd, raw)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.dir / name)
            folder = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(folder)  # the rename itself survives a crash
            finally:
                os.close(folder)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            raise StoreError(type(exc).__name__) from None

    def _entries(self, *, dead: bool = False) -> list[Path]:
        try:
            return sorted((self.dir / "dead" if dead else self.dir).glob("*.json"))
        except OSError as exc:
            raise StoreError(type(exc).__name__) from None

    def peek(self, limit: int, *, dead: bool = False) -> list[tuple[Any, bytes]]:
        found = []
        for path in self._entries(dead=dead)[:limit]:
            try:
                found.append((path, path.read_bytes()))
            except FileNotFoundError:
                continue  # another drainer removed it meanwhile
            except OSError as exc:
                raise StoreError(type(exc).__name__) from None
        return found

    def remove(self, handle: Path) -> None:
        try:
            handle.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(type(exc).__name__) from None

    def bury(self, handle: Path) -> None:
        try:
            (self.dir / "dead").mkdir(mode=0o700, exist_ok=True)
            os.replace(handle, self.dir / "dead" / handle.name)
        except OSError as exc:
            raise StoreError(type(exc).__name__) from None

    def count(self, *, dead: bool = False) -> int:
        """Entries in the folder, counted by name (one directory read, nothing opened or sorted)."""
        try:
            with os.scandir(self.dir / "dead" if dead else self.dir) as names:
                return sum(1 for name in names if name.name.endswith(".json") and not name.name.startswith("."))
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StoreError(type(exc).__name__) from None

    def requeue_dead(self) -> int:
        moved = 0
        for path in self._entries(dead=True):
            try:
                os.replace(path, self.dir / path.name)  # the same name: back in its place in time order
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreError(type(exc).__name__) from None
            moved += 1
        return moved

    def clear(self) -> None:
        for path in [*self.dir.glob("*.json"), *self.dir.glob("dead/*.json")]:
            path.unlink(missing_ok=True)


def _stores() -> list:
    """Where to look, in order: Redis (shared by every process) when it is configured and up, this host's files."""
    return [RedisStore(), FileStore()] if RedisStore.available() else [FileStore()]


# -- keeping ---------------------------------------------------------------------------------------------

# Whether this process may have entries waiting (it spooled some, or its file spool had some when it
# first looked): a turn's save drains only then, so a process with nothing spooled pays nothing.
_pending: bool | None = None


def spool_put(*, entry_id: str, usage: list, events: list, created_at, reason: BaseException) -> str | None:
    """Keep a failed transaction's usage records and audit events (built, unsaved) for a later replay.

    ``events[-1].metadata[WRITE_ID]`` must be ``entry_id``. Never raises: returns the store's name,
    or None (logged, with counts only) when no store took the entry.
    """
    global _pending
    failures = []
    try:
        if not events or events[-1].metadata.get(WRITE_ID) != entry_id:
            raise ValueError("the last event does not carry the write id")
        raw = _encode(entry_id=entry_id, usage=usage, events=events, created_at=created_at)
    except Exception as exc:  # noqa: BLE001 - the turn's own error must reach the user, not this one
        failures.append(f"not encodable: {type(exc).__name__}")
        raw = None
    for store in _stores() if raw is not None else []:
        try:
            store.put(entry_id, raw)
        except StoreError as exc:
            failures.append(f"{store.name}: {exc}")
            continue
        _pending = True
        logger.warning(
            "database failure (%s): %d usage rows and %d audit events kept in the %s spool, written once it answers",
            type(reason).__name__, len(usage), len(events), store.name,
        )  # fmt: skip
        return store.name
    logger.error(
        "database failure (%s): %d usage rows and %d audit events could not be spooled either (%s); they are lost",
        type(reason).__name__, len(usage), len(events), "; ".join(failures) or "no store",
    )  # fmt: skip
    return None


# -- writing them -------------------------------------------------------------------------------------


class SpoolEntryInvalid(Exception):
    """An entry that cannot be written as it is (unreadable, or an event whose hash does not match)."""


def _replay(entry: dict[str, Any]) -> tuple[int, int] | None:
    """Store one entry's rows with their original timestamps and hashes; None if they were stored before."""
    from django.contrib.auth import get_user_model

    from apps.audit.chain import event_hash, sealing_lock
    from apps.audit.models import AuditEvent, UsageRecord
    from apps.audit.services import audit_events_store, usage_records_store

    try:
        entry_id = str(entry["id"])
        usage = [_load(UsageRecord, data) for data in entry["usage"]]
        events = [_load(AuditEvent, data) for data in entry["events"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SpoolEntryInvalid(f"unreadable ({type(exc).__name__})") from None
    if not events or events[-1].metadata.get(WRITE_ID) != entry_id:
        raise SpoolEntryInvalid("no event carries its write id")
    if any(event.row_hash != event_hash(event) for event in events):
        raise SpoolEntryInvalid("an event does not match its hash")
    check = events[-1]
    with transaction.atomic():
        sealing_lock()  # and on PostgreSQL this makes a second drainer wait, then find the rows here
        filters = {"action": check.action, "created_at": check.created_at, f"metadata__{WRITE_ID}": entry_id}
        if AuditEvent.objects.filter(**filters).exists():
            return None
        # A user deleted meanwhile: their usage went with them (CASCADE), their events stay (SET_NULL).
        wanted = {r.user_id for r in usage} | {e.actor_id for e in events if e.actor_id is not None}
        alive = set(get_user_model().objects.filter(pk__in=wanted).values_list("pk", flat=True))
        usage = [record for record in usage if record.user_id in alive]
        times = [record.created_at for record in usage]
        for event in events:
            if event.actor_id not in alive:
                event.actor_id = None
        usage_records_store(usage)
        for stamp in set(times):  # created_at is auto_now_add: put the original time back
            UsageRecord.objects.filter(pk__in=[r.pk for r, t in zip(usage, times) if t == stamp]).update(created_at=stamp)
        audit_events_store(events)
    return len(usage), len(events)


@dataclass
class DrainReport:
    replayed: int = 0  # entries written now
    already: int = 0  # entries whose rows were already stored (only removed)
    usage_rows: int = 0
    audit_events: int = 0
    set_aside: int = 0  # entries that cannot be written, moved to the dead letters
    left: bool = False  # something may still wait (a full batch, or a store or the database failed)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def spool_drain(*, batch: int = DRAIN_BATCH) -> DrainReport:
    """Write the spooled entries (up to ``batch`` per store), each in its own transaction, exactly once.

    Idempotent and safe to run in several processes at once. When the database fails again the
    drain stops and every entry not yet committed stays for the next run.
    """
    report = DrainReport()
    for store in _stores():
        try:
            found = store.peek(batch)
        except StoreError as exc:
            logger.warning("spool drain: the %s spool cannot be read (%s)", store.name, exc)
            report.left = True
            continue
        report.left |= len(found) >= batch
        for handle, raw in found:
            entry = None
            try:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    raise SpoolEntryInvalid("not JSON") from None
                written = _replay(entry if isinstance(entry, dict) else {})
            except DATABASE_DOWN as exc:
                logger.warning("spool drain stopped: database failure (%s); the entries stay spooled", type(exc).__name__)
                report.left = True
                _log_drained(report)
                return report
            except Exception as exc:  # noqa: BLE001 - one bad entry must not hold up the others
                shown = _shown_id(entry)  # the id `manage.py audit_spool --list` shows
                logger.error("spool drain: entry %s in the %s spool was set aside: %s", shown, store.name, exc)
                try:
                    store.bury(handle)
                    report.set_aside += 1
                except StoreError:
                    report.left = True
                continue
            if written is None:
                report.already += 1
            else:
                report.replayed += 1
                report.usage_rows += written[0]
                report.audit_events += written[1]
            try:
                store.remove(handle)
            except StoreError:
                report.left = True  # written: the next drain finds the rows and only removes it
    _log_drained(report)
    return report


def _shown_id(entry: Any) -> str:
    raw = entry.get("id") if isinstance(entry, dict) else None
    return "".join(c for c in str(raw or "")[:64] if c.isalnum()) or "(no id)"


def _log_drained(report: DrainReport) -> None:
    if report.replayed or report.already or report.set_aside:
        logger.warning(
            "spool drain: %d entries written (%d usage rows, %d audit events), %d already stored, %d set aside%s",
            report.replayed, report.usage_rows, report.audit_events, report.already, report.set_aside,
            "; more wait" if report.left else "",
        )  # fmt: skip


def spool_drain_soon() -> None:
    """Call inside a transaction that just stored something: after its commit, drain this process's
    spool if it may hold entries. With nothing spooled this is a flag check (no Redis, no file system
    after the first call); beat's drain covers entries other processes left."""
    global _pending
    if _pending is None:
        try:
            _pending = FileStore().count() > 0
        except StoreError:
            _pending = False
    if _pending:
        transaction.on_commit(_drain_now, robust=True)


def _drain_now() -> None:
    global _pending
    _pending = False  # a turn spooling meanwhile sets it again
    if spool_drain(batch=SOON_BATCH).left:
        _pending = True


def spool_count(*, dead: bool = False) -> dict[str, int]:
    """Entries waiting (or, with ``dead``, set aside) per store; -1 for a store that cannot be read.

    Cheap enough for every metrics scrape: one LLEN, one directory read."""
    counts = {}
    for store in _stores():
        try:
            counts[store.name] = store.count(dead=dead)
        except StoreError:
            counts[store.name] = -1
    return counts


def spool_status() -> dict[str, dict[str, int]]:
    """Per store, entries ``pending`` and ``dead`` (set aside); -1 where the store cannot be read."""
    pending, dead = spool_count(), spool_count(dead=True)
    return {store: {"pending": waiting, "dead": dead.get(store, -1)} for store, waiting in pending.items()}


def spool_requeue_dead() -> dict[str, int]:
    """Move the set-aside entries back to be written (once the operator fixed the cause); moved per store.

    An entry that still cannot be written is set aside again by the next drain."""
    global _pending
    moved = {}
    for store in _stores():
        try:
            moved[store.name] = store.requeue_dead()
        except StoreError as exc:
            logger.warning("spool requeue: the %s spool cannot be written (%s)", store.name, exc)
            moved[store.name] = -1
    if any(n > 0 for n in moved.values()):
        _pending = True
    return moved


@dataclass
class EntrySummary:
    """What an operator may see of an entry: never its rows (user data under full logging)."""

    id: str
    spooled_at: str
    usage_rows: int
    audit_events: int


def _summary(raw: bytes) -> EntrySummary:
    def plain(value: Any) -> str:  # a damaged entry's text must not reach a terminal as control codes
        return re.sub(r"[^0-9A-Za-z:.+_-]", "?", str(value))[:64]

    try:
        entry = json.loads(raw)
        return EntrySummary(plain(entry["id"]), plain(entry["spooled_at"]), len(entry["usage"]), len(entry["events"]))
    except (ValueError, KeyError, TypeError):
        return EntrySummary("(unreadable)", "", 0, 0)


def spool_entries(*, dead: bool = False, limit: int = 50) -> dict[str, list[EntrySummary]]:
    """The first ``limit`` entries per store, oldest first, as id, time and counts only."""
    found = {}
    for store in _stores():
        try:
            found[store.name] = [_summary(raw) for _, raw in store.peek(limit, dead=dead)]
        except StoreError:
            found[store.name] = []
    return found


def spool_clear() -> None:
    """Forget every entry and this process's flag (tests)."""
    global _pending
    _pending = None
    for store in _stores():
        try:
            store.clear()
        except StoreError:
            pass
