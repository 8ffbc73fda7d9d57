"""The one limiter: sliding-window logs and period counters, atomic across processes.

Two primitives, each one Lua script on Redis (Redis's own clock, one round trip, atomic), or
the same logic under a lock in this process on the embedded default (no ``REDIS_URL``):

- **Sliding window** (requests per minute, tokens per minute): a sorted set of admitted
  entries, each ``token:cost`` scored with its admission time in ms. An entry counts while it is
  younger than the window, so no span of the window's length ever holds more than the limit;
  there is no fixed-window edge where twice the limit gets in. An entry's cost can be changed
  later (a token reservation reconciled with the reported usage, or released).
- **Period counter** (tokens per day, tokens or cost per month): one integer per calendar
  period, checked and added in one step. A missing counter (a new period, or Redis flushed)
  answers ``missing`` and the caller rebuilds it from the usage rows (``SET NX``), so a restart
  forgets no spending.

Why not the ``limits`` library: its moving window counts one hit per call (a token cost would
be ``cost`` members) and cannot change an admitted hit's cost, which reservations need; its
sliding-window counter is an approximation (it let 11 in a 2 s span of a 10-per-2 s limit in
``bench/limits_bench.py``). This module's exactness is measured with Redis's own admission
times (``tests/limits/test_limiter.py``, ``bench/limits_bench.py``).

Redis set but unreachable raises :class:`LimiterUnavailable`; callers decide: endpoints that
spend nothing fail open (with a log warning), calls that would spend money are not sent.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)


class LimiterUnavailable(Exception):
    """The shared limiter state (Redis) cannot be reached."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    used: int  # after this request if allowed, else without it
    retry_after: float = 0.0  # seconds until the request would fit (denied only)
    reset: float = 0.0  # seconds until the window / period frees what is used now
    token: str = ""  # the admitted entry (sliding window), to adjust it later
    at_ms: float = 0.0  # when it was admitted, by the store's clock (sliding window)

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


# KEYS[1] zset of "token:cost" by admission ms, KEYS[2] the running sum of its costs.
# ARGV: op (hit|adjust|peek), limit, window ms, cost, token, old cost.
# Returns {allowed, used, retry_after_ms, reset_ms, admitted_at_ms}. Only aged-out entries are read
# on the way (the sum is kept), so a check costs O(log n) plus what expired since the last one.
_WINDOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op, limit, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local cost, token = tonumber(ARGV[4]), ARGV[5]
local function cost_of(m) return tonumber(string.sub(m, string.find(m, ':[^:]*$') + 1)) end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
if #old > 0 then
  for i = 1, #old do used = used - cost_of(old[i]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
end
if redis.call('ZCARD', KEYS[1]) == 0 then used = 0 end
if used < 0 then used = 0 end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local reset = 0
if #newest > 0 then reset = tonumber(newest[2]) + window - now end
local function save()
  redis.call('SET', KEYS[2], used, 'PX', window + 1000)
  redis.call('PEXPIRE', KEYS[1], window + 1000)
end
if op == 'peek' then return {1, used, 0, reset, now} end
if op == 'adjust' then
  local member = token .. ':' .. ARGV[6]
  local score = redis.call('ZSCORE', KEYS[1], member)
  if score then
    redis.call('ZREM', KEYS[1], member)
    used = used - tonumber(ARGV[6])
    if cost > 0 then
      redis.call('ZADD', KEYS[1], score, token .. ':' .. cost)
      used = used + cost
    end
  end
  save()
  return {1, used, 0, reset, now}
end
if used + cost <= limit then
  redis.call('ZADD', KEYS[1], now, token .. ':' .. cost)
  used = used + cost
  save()
  return {1, used, 0, window, now}
end
if #old > 0 then save() end
-- denied: when will enough of the oldest entries have aged out?
local need = used + cost - limit
local freed = 0
local retry = window
if cost <= limit then
  local offset, done = 0, false
  while not done do  -- oldest first, 32 at a time: a refusal reads only as far as it must
    local entries = redis.call('ZRANGE', KEYS[1], offset, offset + 31, 'WITHSCORES')
    if #entries == 0 then break end
    for i = 1, #entries, 2 do
      freed = freed + cost_of(entries[i])
      if freed >= need then retry = tonumber(entries[i + 1]) + window - now done = true break end
    end
    offset = offset + 32
  end
end
return {0, used, retry, reset, now}
"""

# KEYS[1] counter. ARGV: op (reserve|adjust|peek), limit, amount, ttl seconds.
# Returns {allowed (1/0, -1 = missing), used}.
_COUNTER_LUA = """
local v = redis.call('GET', KEYS[1])
if not v then return {-1, 0} end
local used = tonumber(v)
local op, limit, amount = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if op == 'peek' then return {1, used} end
if op == 'adjust' then
  used = redis.call('INCRBY', KEYS[1], amount)
  if used < 0 then redis.call('SET', KEYS[1], 0, 'KEEPTTL') used = 0 end
  return {1, used}
end
if used + amount > limit then return {0, used} end
return {1, redis.call('INCRBY', KEYS[1], amount)}
"""


class _Local:
    """The same two primitives in this process (the embedded default, single process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.windows: dict[str, dict[str, tuple[float, int]]] = {}
        self.counters: dict[str, tuple[int, float]] = {}

    def window(self, key, op, limit, window_ms, cost, token, old_cost):
        now = time.time() * 1000
        with self.lock:
            entries = self.windows.setdefault(key, {})
            for name in [n for n, (at, _) in entries.items() if at <= now - window_ms]:
                del entries[name]
            used = sum(c for _, c in entries.values())
            reset = max(at for at, _ in entries.values()) + window_ms - now if entries else 0
            if op == "peek":
                return 1, used, 0, reset
            if op == "adjust":
                if token in entries:
                    at, old = entries.pop(token)
                    used -= old
                    if cost > 0:
                        entries[token] = (at, cost)
                        used += cost
                return 1, used, 0, reset
            if used + cost <= limit:
                entries[token] = (now, cost)
                return 1, used + cost, 0, window_ms, now
            need, freed, retry = used + cost - limit, 0, window_ms
            if cost <= limit:
                for at, c in sorted(entries.values()):
                    freed += c
                    if freed >= need:
                        retry = at + window_ms - now
                        break
            return 0, used, retry, reset

    def counter(self, key, op, limit, amount, ttl, initial=None):
        with self.lock:
            now = time.time()
            value = self.counters.get(key)
            if value is not None and value[1] <= now:
                value = None
            if initial is not None:
                if value is None:
                    self.counters[key] = (int(initial), now + ttl)
                return None
            if value is None:
                return -1, 0
            used, expires = value
            if op == "peek":
                return 1, used
            if op == "adjust":
                used = max(used + amount, 0)
                self.counters[key] = (used, expires)
                return 1, used
            if used + amount > limit:
                return 0, used
            self.counters[key] = (used + amount, expires)
            return 1, used + amount

    def clear(self) -> None:
        with self.lock:
            self.windows.clear()
            self.counters.clear()


_local = _Local()
_scripts: dict[str, object] = {}


def _prefix() -> str:
    prefix = getattr(settings, "LIMITS_KEY_PREFIX", "") or settings.CACHES["default"].get("KEY_PREFIX", "")
    return f"{prefix}:limits:" if prefix else "limits:"


def shared() -> bool:
    """True when limits live in Redis (``REDIS_URL`` set)."""
    return "django_redis" in settings.CACHES["default"]["BACKEND"]


def _run(name: str, source: str, keys: list[str], args: list):
    from django_redis import get_redis_connection
    from redis.exceptions import RedisError

    try:
        client = get_redis_connection("default")
        script = _scripts.get(name)
        if script is None:
            script = _scripts[name] = client.register_script(source)
        return script(keys=keys, args=args, client=client)
    except (RedisError, OSError) as exc:
        raise LimiterUnavailable(type(exc).__name__) from None


def _window(key, op, limit, window_seconds, cost, token, old_cost=0):
    window_ms = max(int(window_seconds * 1000), 1)
    full = _prefix() + "w:" + key
    if shared():
        result = _run("window", _WINDOW_LUA, [full, full + ":sum"], [op, limit, window_ms, cost, token, old_cost])
    else:
        result = _local.window(full, op, limit, window_ms, cost, token, old_cost)
    allowed, used, retry, reset = result[:4]
    at = float(result[4]) if len(result) > 4 else 0.0
    return int(allowed), int(used), max(float(retry), 0.0) / 1000, max(float(reset), 0.0) / 1000, at


def window_hit(key: str, *, limit: int, window_seconds: float, cost: int = 1) -> Decision:
    """Admit ``cost`` units into the sliding window ``key`` if they fit, atomically."""
    token = uuid.uuid4().hex[:16]
    allowed, used, retry, reset, at = _window(key, "hit", limit, window_seconds, int(cost), token)
    return Decision(bool(allowed), limit, used, retry_after=retry, reset=reset, token=token if allowed else "", at_ms=at)


def window_adjust(key: str, *, window_seconds: float, token: str, old_cost: int, new_cost: int) -> None:
    """Change an admitted entry's cost (0 removes it): reconcile or release a reservation."""
    _window(key, "adjust", 0, window_seconds, max(int(new_cost), 0), token, int(old_cost))


def window_peek(key: str, *, limit: int, window_seconds: float) -> Decision:
    _, used, _, reset, _ = _window(key, "peek", limit, window_seconds, 0, "")
    return Decision(True, limit, used, reset=reset)


def _counter(key, op, limit, amount, ttl, rebuild):
    full = _prefix() + "c:" + key
    for _ in range(2):
        if shared():
            allowed, used = _run("counter", _COUNTER_LUA, [full], [op, limit, amount, ttl])
        else:
            allowed, used = _local.counter(full, op, limit, amount, ttl)
        if int(allowed) != -1:
            return int(allowed), int(used)
        # A new period, or Redis forgot: rebuild from the database (first writer wins), then retry.
        initial = int(rebuild()) if rebuild else 0
        if shared():
            from django_redis import get_redis_connection
            from redis.exceptions import RedisError

            try:
                get_redis_connection("default").set(full, initial, nx=True, ex=max(int(ttl), 1))
            except (RedisError, OSError) as exc:
                raise LimiterUnavailable(type(exc).__name__) from None
        else:
            _local.counter(full, op, limit, amount, ttl, initial=initial)
    raise LimiterUnavailable("counter vanished twice")


def counter_reserve(key: str, *, limit: int, amount: int, ttl: float, rebuild=None) -> Decision:
    """Add ``amount`` to the period counter ``key`` if the total stays within ``limit``, atomically."""
    allowed, used = _counter(key, "reserve", limit, int(amount), ttl, rebuild)
    return Decision(bool(allowed), limit, used)


def counter_adjust(key: str, *, delta: int, ttl: float, rebuild=None) -> int:
    """Add ``delta`` (negative gives back) to a period counter; the new total."""
    return _counter(key, "adjust", 0, int(delta), ttl, rebuild)[1]


def counter_peek(key: str, *, ttl: float, rebuild=None) -> int:
    return _counter(key, "peek", 0, 0, ttl, rebuild)[1]


def counter_set(key: str, *, value: int, ttl: float) -> None:
    """Overwrite a period counter (the reconcile task, from the usage rows)."""
    full = _prefix() + "c:" + key
    if shared():
        from django_redis import get_redis_connection
        from redis.exceptions import RedisError

        try:
            get_redis_connection("default").set(full, int(value), ex=max(int(ttl), 1))
        except (RedisError, OSError) as exc:
            raise LimiterUnavailable(type(exc).__name__) from None
    else:
        with _local.lock:
            _local.counters[full] = (int(value), time.time() + ttl)


def clear_all() -> None:
    """Forget every limit counter (tests)."""
    _local.clear()
    if not shared():
        return
    from django_redis import get_redis_connection
    from redis.exceptions import RedisError

    try:
        client = get_redis_connection("default")
        keys = list(client.scan_iter(match=f"{_prefix()}*", count=1000))
        if keys:
            client.delete(*keys)
    except (RedisError, OSError):
        pass
