"""Shared provider state (circuit breakers, cool-downs): one atomic Redis script, or process memory.

Why not pybreaker's ``CircuitRedisStorage``: it keeps state, counter and ``opened_at`` in
separate keys read and written with separate commands, and the open -> half-open move is a
read-check-set in each process (guarded only by a thread lock). With several processes every
one that sees the timeout elapsed moves to half-open and sends its own "probe", and a failure
count can be read before another process's increment lands. It also raises exceptions for
control flow and wraps a call (no fit for a stream). So the breaker here is one Lua script:
every read-decide-write happens inside Redis, atomically, with Redis's own clock.

With ``REDIS_URL`` unset (the embedded default) state lives in this process. With Redis set but
unreachable, the same per-process state is used and a warning is logged at most once a minute.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
_STATE_TTL_SECONDS = 7 * 24 * 3600
_WARN_INTERVAL_SECONDS = 60.0
# After a Redis error, use per-process state for this long before trying Redis again, so a
# black-holed Redis costs one socket timeout per interval, not one per breaker check.
_REDIS_RETRY_SECONDS = 5.0
_MAX_COOLDOWN_SECONDS = 3600.0
_redis_down_until = 0.0

# KEYS[1] breaker hash. ARGV: op, threshold, cooldown seconds, probe timeout seconds.
# Returns {decision_or_state, previous_state, seconds_left, failures}; numbers as strings
# (Redis truncates Lua numbers to integers).
_BREAKER_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local op = ARGV[1]
local threshold = tonumber(ARGV[2])
local cooldown = tonumber(ARGV[3])
local probe_timeout = tonumber(ARGV[4])
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
local until_ = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
local left = until_ - now
if left < 0 then left = 0 end
local function save(s, f, u)
  redis.call('HSET', KEYS[1], 'state', s, 'failures', tostring(f), 'until', tostring(u))
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
end
if op == 'allow' then
  if state == 'closed' then return {'allow', state, '0', tostring(failures)} end
  if now < until_ then return {'deny', state, tostring(left), tostring(failures)} end
  -- open past its cool-down, or a half-open probe that never reported back: this caller probes
  save('half_open', failures, now + probe_timeout)
  return {'probe', state, '0', tostring(failures)}
elseif op == 'success' then
  save('closed', 0, 0)
  return {'closed', state, '0', '0'}
elseif op == 'failure' then
  if state == 'half_open' or (state == 'closed' and failures + 1 >= threshold) then
    save('open', failures + 1, now + cooldown)
    return {'open', state, tostring(cooldown), tostring(failures + 1)}
  elseif state == 'open' then
    save('open', failures + 1, until_)
    return {'open', state, tostring(left), tostring(failures + 1)}
  end
  save('closed', failures + 1, 0)
  return {'closed', state, '0', tostring(failures + 1)}
elseif op == 'release' then
  -- a probe slot taken by an attempt that was never sent: hand it to the next caller
  if state == 'half_open' then save('open', failures, now) end
  return {'open', state, '0', tostring(failures)}
elseif op == 'reset' then
  redis.call('DEL', KEYS[1])
  return {'closed', state, '0', '0'}
end
return {state, state, tostring(left), tostring(failures)}
"""


# Extend (never shorten) the cool-down keys to ARGV[1] ms; works on any Redis with Lua (no PEXPIRE GT).
_COOLDOWN_LUA = """
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < tonumber(ARGV[1]) then
    redis.call('SET', key, '1', 'PX', tonumber(ARGV[1]))
  end
end
return 1
"""


@dataclass(frozen=True)
class BreakerResult:
    """What the store answered: ``decision`` is allow/deny/probe for ``allow``, else the new state."""

    decision: str
    previous: str
    seconds_left: float
    failures: int


class _LocalStore:
    """Per-process state with the same semantics as the Redis script."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._breakers: dict[str, tuple[str, int, float]] = {}
        self._cooldowns: dict[str, float] = {}
        self.values: dict[str, str] = {}

    def breaker(self, key: str, op: str, threshold: int, cooldown: float, probe_timeout: float) -> BreakerResult:
        with self._lock:
            now = time.time()
            state, failures, until = self._breakers.get(key, (CLOSED, 0, 0.0))
            left = max(until - now, 0.0)
            if op == "allow":
                if state == CLOSED:
                    return BreakerResult("allow", state, 0.0, failures)
                if now < until:
                    return BreakerResult("deny", state, left, failures)
                self._breakers[key] = (HALF_OPEN, failures, now + probe_timeout)
                return BreakerResult("probe", state, 0.0, failures)
            if op == "success":
                self._breakers[key] = (CLOSED, 0, 0.0)
                return BreakerResult(CLOSED, state, 0.0, 0)
            if op == "failure":
                if state == HALF_OPEN or (state == CLOSED and failures + 1 >= threshold):
                    self._breakers[key] = (OPEN, failures + 1, now + cooldown)
                    return BreakerResult(OPEN, state, cooldown, failures + 1)
                if state == OPEN:
                    self._breakers[key] = (OPEN, failures + 1, until)
                    return BreakerResult(OPEN, state, left, failures + 1)
                self._breakers[key] = (CLOSED, failures + 1, 0.0)
                return BreakerResult(CLOSED, state, 0.0, failures + 1)
            if op == "release":
                if state == HALF_OPEN:
                    self._breakers[key] = (OPEN, failures, now)
                return BreakerResult(OPEN, state, 0.0, failures)
            if op == "reset":
                self._breakers.pop(key, None)
                return BreakerResult(CLOSED, state, 0.0, 0)
            return BreakerResult(state, state, left, failures)

    def cooldown_set(self, keys: list[str], seconds: float) -> None:
        with self._lock:
            until = time.time() + seconds
            for key in keys:
                self._cooldowns[key] = max(self._cooldowns.get(key, 0.0), until)

    def cooldown_left(self, key: str) -> float:
        with self._lock:
            return max(self._cooldowns.get(key, 0.0) - time.time(), 0.0)

    def cooldown_clear(self, key: str) -> None:
        with self._lock:
            for name in [k for k in self._cooldowns if k == key or k.startswith(f"{key}:")]:
                del self._cooldowns[name]

    def clear(self) -> None:
        with self._lock:
            self._breakers.clear()
            self._cooldowns.clear()
            self.values.clear()


_local = _LocalStore()
_warned_at = 0.0
_warn_lock = threading.Lock()


def _warn_redis_down(exc: Exception) -> None:
    global _warned_at, _redis_down_until
    with _warn_lock:
        _redis_down_until = time.monotonic() + _REDIS_RETRY_SECONDS
        now = time.monotonic()
        if now - _warned_at < _WARN_INTERVAL_SECONDS and _warned_at:
            return
        _warned_at = now
    logger.warning(
        "Redis is unreachable (%s); provider breakers and cool-downs fall back to per-process state",
        type(exc).__name__,
    )


def _prefix() -> str:
    prefix = getattr(settings, "PROVIDER_STATE_PREFIX", "") or settings.CACHES["default"].get("KEY_PREFIX", "")
    return f"{prefix}:providers:" if prefix else "providers:"


def _redis():
    """The raw Redis client behind the default cache, or None on the embedded default."""
    if "django_redis" not in settings.CACHES["default"]["BACKEND"] or time.monotonic() < _redis_down_until:
        return None
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def _redis_errors() -> tuple[type[Exception], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError)


_script = None


_STATE_GAUGE = {CLOSED: 0, "allow": 0, HALF_OPEN: 1, "probe": 1, OPEN: 2, "deny": 2}


def breaker_op(provider: str, op: str) -> BreakerResult:
    """Run one breaker operation (allow, success, failure, release, reset, peek) atomically."""
    result = _breaker_op(provider, op)
    value = _STATE_GAUGE.get(result.decision)
    if value is not None:  # the state this process last saw, for /metrics (apps.core.metrics)
        from apps.core import metrics

        try:
            metrics.breaker_state.labels(provider).set(value)
        except Exception:  # pragma: no cover - metrics never break the gateway
            pass
    return result


def _breaker_op(provider: str, op: str) -> BreakerResult:
    threshold = settings.PROVIDER_BREAKER_FAILURE_THRESHOLD
    cooldown = float(settings.PROVIDER_BREAKER_COOLDOWN_SECONDS)
    probe_timeout = float(settings.PROVIDER_BREAKER_PROBE_TIMEOUT_SECONDS)
    key = f"{_prefix()}breaker:{provider}"
    client = _redis()
    if client is not None:
        global _script
        try:
            if _script is None:
                _script = client.register_script(_BREAKER_LUA)
            decision, previous, left, failures = _script(
                keys=[key], args=[op, threshold, cooldown, probe_timeout, _STATE_TTL_SECONDS], client=client
            )
            return BreakerResult(_text(decision), _text(previous), float(left), int(float(failures)))
        except _redis_errors() as exc:
            _warn_redis_down(exc)
    return _local.breaker(key, op, threshold, cooldown, probe_timeout)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def cooldown_set(*, provider: str, key_id: int | None, seconds: float) -> None:
    """Put a provider and key (and, for display, the provider) in cool-down for ``seconds``."""
    keys = [f"{_prefix()}cooldown:{provider}:{key_id or '-'}", f"{_prefix()}cooldown:{provider}"]
    if not seconds > 0:  # also NaN
        return
    seconds = min(float(seconds), _MAX_COOLDOWN_SECONDS)
    ms = max(int(seconds * 1000), 1)
    client = _redis()
    if client is not None:
        try:
            # Never shorten a longer cool-down another turn already set.
            client.eval(_COOLDOWN_LUA, len(keys), *keys, ms)
            return
        except _redis_errors() as exc:
            _warn_redis_down(exc)
    _local.cooldown_set(keys, seconds)


def cooldown_left(*, provider: str, key_id: int | None = None, any_key: bool = False) -> float:
    """Seconds left in the cool-down of this provider and key (``any_key``: of the provider at all)."""
    key = f"{_prefix()}cooldown:{provider}" if any_key else f"{_prefix()}cooldown:{provider}:{key_id or '-'}"
    client = _redis()
    if client is not None:
        try:
            ms = client.pttl(key)
            return max(ms, 0) / 1000.0
        except _redis_errors() as exc:
            _warn_redis_down(exc)
    return _local.cooldown_left(key)


def cooldown_clear(*, provider: str) -> None:
    prefix = f"{_prefix()}cooldown:{provider}"
    client = _redis()
    if client is not None:
        try:
            keys = [prefix, *client.scan_iter(match=f"{prefix}:*", count=500)]
            client.delete(*keys)
            return
        except _redis_errors() as exc:
            _warn_redis_down(exc)
    _local.cooldown_clear(prefix)


def probe_result_set(*, provider: str, result: dict) -> None:
    """Remember the last scheduled probe of a provider (shown with its health)."""
    key, value = f"{_prefix()}probe:{provider}", json.dumps(result)
    client = _redis()
    if client is not None:
        try:
            client.set(key, value, ex=_STATE_TTL_SECONDS)
            return
        except _redis_errors() as exc:
            _warn_redis_down(exc)
    _local.values[key] = value


def probe_result_get(*, provider: str) -> dict | None:
    key = f"{_prefix()}probe:{provider}"
    client = _redis()
    value = None
    if client is not None:
        try:
            value = client.get(key)
        except _redis_errors() as exc:
            _warn_redis_down(exc)
            value = _local.values.get(key)
    else:
        value = _local.values.get(key)
    return json.loads(value) if value else None


def breaker_reset(*, provider: str) -> None:
    """Close a provider's breaker and end its cool-downs (the admin's reset action)."""
    breaker_op(provider, "reset")
    cooldown_clear(provider=provider)


def clear_all() -> None:
    """Forget all breaker and cool-down state, shared and per-process (tests)."""
    global _redis_down_until
    _local.clear()
    _redis_down_until = 0.0
    client = _redis()
    if client is None:
        return
    try:
        keys = list(client.scan_iter(match=f"{_prefix()}*", count=1000))
        if keys:
            client.delete(*keys)
    except _redis_errors() as exc:
        _warn_redis_down(exc)
