"""Per-store request pacing and circuit breaking shared by every worker through Redis.

BigCommerce gives each store one request quota per window, shared by all apps (CONTRACT §10).
``RatePacer`` keeps our view of that window in Redis so that all workers and threads draw from
one budget; ``CircuitBreaker`` stops hammering a store that keeps failing (RELIABILITY §1 rows
9, 18, 19). The backoff between retries is worker/clients/retry.py's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from redis import Redis

from worker.clients.errors import CircuitOpen, QuotaSpent

logger = logging.getLogger("worker.clients.pacing")
circuit_logger = logging.getLogger("worker.clients.circuit")

# BigCommerce's documented window; used until a response tells us the real one.
DEFAULT_WINDOW_MS = 30_000
# Requests still unanswered this long after their window ended belong to a dead worker.
STALE_INFLIGHT_MS = 120_000


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (BigCommerce may send the rate headers lower-cased)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = _header(headers, name)
    if raw is None:
        return None
    try:
        return int(float(raw))
    except ValueError:
        return None


def has_rate_headers(headers: Mapping[str, str]) -> bool:
    """True when a 429 says how long to wait (a 429 without them means platform overload)."""
    return (
        _int_header(headers, "X-Rate-Limit-Time-Reset-Ms") is not None
        or _int_header(headers, "X-Retry-After") is not None
    )


def rate_limit_wait_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds a 429 asks us to wait: ``X-Rate-Limit-Time-Reset-Ms``, else ``X-Retry-After``."""
    reset_ms = _int_header(headers, "X-Rate-Limit-Time-Reset-Ms")
    if reset_ms is not None:
        return max(0, reset_ms) / 1000.0
    retry_after = _int_header(headers, "X-Retry-After")
    if retry_after is not None:
        return float(max(0, retry_after))
    return None


# --------------------------------------------------------------------------------------------
# RatePacer
#
# State per store (a Redis hash):
#   quota, window_ms   last seen X-Rate-Limit-Requests-Quota / -Time-Window-Ms
#   window_end         epoch ms at which we believe the current window ends
#   end_src            "s" = derived from a response header, "g" = our guess at the first request
#   count              requests issued (by us, or seen used by anyone) in the current window
#   inflight           our requests sent but not answered yet; a new window starts with this
#                      count, because they may still land in it (this is what keeps a crowd of
#                      workers from overrunning the quota right after a reset)
#   ahead_end/_used    a response that looked like the server's next window (end, used);
#                      the next window starts from it instead of from a guess
#   blocked_until      epoch ms before which nobody may call (set by a 429)
# The scripts run atomically in Redis, so every worker and thread shares one view.
# --------------------------------------------------------------------------------------------

_ACQUIRE_LUA = """
local h = KEYS[1]
local now = tonumber(ARGV[1])
local min_left = tonumber(ARGV[2])
local default_window = tonumber(ARGV[3])
local function num(v, d) if v then return tonumber(v) end return d end
local blocked = num(redis.call('HGET', h, 'blocked_until'), 0)
if blocked > now then return blocked - now end
local quota = num(redis.call('HGET', h, 'quota'), -1)
local window = num(redis.call('HGET', h, 'window_ms'), default_window)
local wend = num(redis.call('HGET', h, 'window_end'), 0)
local count = num(redis.call('HGET', h, 'count'), 0)
local inflight = num(redis.call('HGET', h, 'inflight'), 0)
if wend <= now then
  if now - wend > tonumber(ARGV[4]) then inflight = 0 end
  local ahead_end = num(redis.call('HGET', h, 'ahead_end'), 0)
  local ahead_used = num(redis.call('HGET', h, 'ahead_used'), 0)
  local src = 'g'
  count = inflight
  if ahead_end > now then
    wend = ahead_end
    src = 's'
    if ahead_used > count then count = ahead_used end
  else
    wend = now + window
  end
  redis.call('HSET', h, 'window_end', wend, 'end_src', src, 'count', count,
             'inflight', inflight, 'ahead_end', 0, 'ahead_used', 0)
end
if quota >= 0 and count >= math.max(1, quota - min_left) then
  return math.max(1, wend - now)
end
redis.call('HSET', h, 'count', count + 1, 'inflight', inflight + 1)
redis.call('PEXPIRE', h, math.max(wend, blocked) - now + 2 * window)
return 0
"""

_OBSERVE_LUA = """
local h = KEYS[1]
local now = tonumber(ARGV[1])
local function arg(i) if ARGV[i] == '' then return nil end return tonumber(ARGV[i]) end
local function num(v, d) if v then return tonumber(v) end return d end
local quota, window, left = arg(2), arg(3), arg(4)
local reset, retry_after, is429 = arg(5), arg(6), arg(7)
if quota then redis.call('HSET', h, 'quota', quota) end
if window then redis.call('HSET', h, 'window_ms', window) end
quota = num(redis.call('HGET', h, 'quota'), nil)
window = num(redis.call('HGET', h, 'window_ms'), tonumber(ARGV[8]))
local wend = num(redis.call('HGET', h, 'window_end'), 0)
local count = num(redis.call('HGET', h, 'count'), 0)
local blocked = num(redis.call('HGET', h, 'blocked_until'), 0)
local inflight = num(redis.call('HGET', h, 'inflight'), 0)
if ARGV[9] == '1' and inflight > 0 then
  inflight = inflight - 1
  redis.call('HSET', h, 'inflight', inflight)
end
if is429 == 1 then
  local wait = reset or retry_after
  if wait then
    local new_end = now + wait
    if new_end > blocked then blocked = new_end end
    redis.call('HSET', h, 'blocked_until', blocked, 'window_end', new_end, 'end_src', 's',
               'count', quota or count)
    redis.call('PEXPIRE', h, blocked - now + 2 * window)
  end
  return 0
end
if reset == nil or left == nil or quota == nil then return 0 end
local new_end = now + reset
local used = quota - left
local half = window / 2
local src = redis.call('HGET', h, 'end_src')
if wend <= now or src ~= 's' or new_end > wend + half then
  local base = inflight
  if wend > now then base = count end
  if base > used then used = base end
  redis.call('HSET', h, 'window_end', new_end, 'end_src', 's', 'count', used)
  wend = new_end
elseif new_end >= wend - half then
  if new_end > wend + window / 10 then
    local ahead_end = num(redis.call('HGET', h, 'ahead_end'), 0)
    local ahead_used = num(redis.call('HGET', h, 'ahead_used'), 0)
    if new_end > ahead_end then ahead_end = new_end end
    if used > ahead_used then ahead_used = used end
    redis.call('HSET', h, 'ahead_end', ahead_end, 'ahead_used', ahead_used)
  end
  if count > used then used = count end
  if wend < new_end then new_end = wend end
  redis.call('HSET', h, 'window_end', new_end, 'end_src', 's', 'count', used)
  wend = new_end
end
redis.call('PEXPIRE', h, math.max(wend, blocked) - now + 2 * window)
return 0
"""


# A caller that will not wait (QuotaSpent) reserves the calls its job makes (``cost``) in the
# first window, from the refill on, that has room for them: at most the usable quota per
# window, so the deferred jobs of a store come back spread over the windows they fit in (and
# over each one's first half), not all at the refill, where all but a window's worth would be
# deferred again, each costing a job run. KEYS[1] = the store's reservation hash (at = refill
# time of the window being filled, taken = calls reserved in it), KEYS[2] = the pacer hash;
# ARGV = now, ms until the refill, min_left, default window, cost.
_RESERVE_LUA = """
local r = KEYS[1]
local now = tonumber(ARGV[1])
local function num(v, d) if v then return tonumber(v) end return d end
local quota = num(redis.call('HGET', KEYS[2], 'quota'), -1)
local window = num(redis.call('HGET', KEYS[2], 'window_ms'), tonumber(ARGV[4]))
local per = 1
if quota > 0 then per = math.max(1, quota - tonumber(ARGV[3])) end
local due = now + tonumber(ARGV[2])
local at = num(redis.call('HGET', r, 'at'), 0)
local taken = num(redis.call('HGET', r, 'taken'), 0)
local cost = tonumber(ARGV[5])
-- Each response moves the window's end by a few ms: a refill within half a window of the
-- one being filled is the same window.
if at + window / 2 < due then at, taken = due, 0 elseif at < due then at = due end
if taken > 0 and taken + cost > per then at, taken = at + window, 0 end
redis.call('HSET', r, 'at', at, 'taken', taken + cost)
redis.call('PEXPIRE', r, at - now + window)
-- Due over the first half of the window, in reservation order, so that a window's deferred
-- jobs do not all reach the shared queue in the same second.
return at - now + math.floor(window / 2 * taken / per)
"""


_BUDGET_LUA = """
local h = KEYS[1]
local now = tonumber(ARGV[1])
local min_left = tonumber(ARGV[2])
local default_window = tonumber(ARGV[3])
local function num(v, d) if v then return tonumber(v) end return d end
local blocked = num(redis.call('HGET', h, 'blocked_until'), 0)
if blocked > now then return {0, blocked - now} end
local quota = num(redis.call('HGET', h, 'quota'), -1)
local window = num(redis.call('HGET', h, 'window_ms'), default_window)
if quota < 0 then return {-1, window} end
local wend = num(redis.call('HGET', h, 'window_end'), 0)
local count = num(redis.call('HGET', h, 'count'), 0)
if wend <= now then
  count = num(redis.call('HGET', h, 'inflight'), 0)
  local ahead_end = num(redis.call('HGET', h, 'ahead_end'), 0)
  if ahead_end > now then
    wend = ahead_end
    count = math.max(count, num(redis.call('HGET', h, 'ahead_used'), 0))
  else
    wend = now + window
  end
end
return {math.max(0, math.max(1, quota - min_left) - count), math.max(1, wend - now)}
"""


@dataclass(frozen=True)
class Budget:
    """What a store's quota allows right now, without taking anything.

    ``available`` is the number of requests that would go through at once (None while the
    quota is unknown: no response has told us yet); ``refill_in`` the seconds until the
    current window ends (or a 429 block lifts), when the quota is whole again.
    """

    available: int | None
    refill_in: float


class RatePacer:
    """Paces requests per store so our workers together stay inside the store's quota.

    ``before_request`` takes one unit of the current window (waiting for the window to reset
    when only ``min_left`` units remain, or while a 429 block is in force); ``after_response``
    feeds the ``X-Rate-Limit-*`` headers back so the shared view tracks what the server counts,
    including requests made by other apps on the same store.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        key_prefix: str = "bc:rate",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        min_left: int = 1,
        margin: float = 0.05,
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._sleep = sleep
        self._clock = clock
        self._min_left = max(0, min_left)
        # Waiting a hair past the advertised reset absorbs clock and latency differences.
        self._margin = margin
        self._acquire_script = redis.register_script(_ACQUIRE_LUA)
        self._observe_script = redis.register_script(_OBSERVE_LUA)
        self._budget_script = redis.register_script(_BUDGET_LUA)
        self._reserve_script = redis.register_script(_RESERVE_LUA)

    def _key(self, store_hash: str) -> str:
        return f"{self._prefix}:{store_hash}"

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def try_acquire(self, store_hash: str) -> float:
        """Take one request unit now if allowed; return 0.0, else the seconds to wait first."""
        now = self._now_ms()
        wait_ms = int(
            self._acquire_script(
                keys=[self._key(store_hash)],
                args=[now, self._min_left, DEFAULT_WINDOW_MS, STALE_INFLIGHT_MS],
            )
        )
        return wait_ms / 1000.0

    def budget(self, store_hash: str) -> Budget:
        """How many requests the store's quota allows now and when it refills; takes nothing.

        Callers that must not hold a worker while the quota is spent (catalog sync steps)
        size their work by it and come back after ``refill_in`` instead of sleeping.
        """
        available, refill_ms = (
            int(x)
            for x in self._budget_script(
                keys=[self._key(store_hash)],
                args=[self._now_ms(), self._min_left, DEFAULT_WINDOW_MS],
            )
        )
        return Budget(None if available < 0 else available, refill_ms / 1000.0 + self._margin)

    def before_request(
        self, store_hash: str, max_wait: float | None = None, cost: int = 1
    ) -> float:
        """Block until this store may be called; returns the total seconds waited.

        With ``max_wait``, a wait that would take longer raises ``QuotaSpent`` instead, taking
        nothing from the current window: its ``retry_after`` is when ``cost`` calls (those of
        the caller's job) are reserved, in the first window from the refill on that has room
        for them (see ``_RESERVE_LUA``).
        """
        waited = 0.0
        while True:
            wait = self.try_acquire(store_hash)
            if wait <= 0:
                return waited
            delay = wait + self._margin
            if max_wait is not None and waited + delay > max_wait:
                due = self._reserve(store_hash, delay, cost)
                raise QuotaSpent(
                    f"quota of store {store_hash} spent; call reserved in {due:.1f} s",
                    retry_after=due,
                    service="bigcommerce",
                )
            logger.debug("pacing store %s: waiting %.2f s for the rate window", store_hash, delay)
            self._sleep(delay)
            waited += delay

    def _reserve(self, store_hash: str, delay: float, cost: int) -> float:
        """Seconds until ``cost`` calls reserved for a caller that will not wait ``delay``
        are due."""
        due_ms = self._reserve_script(
            keys=[f"{self._key(store_hash)}:reserved", self._key(store_hash)],
            args=[self._now_ms(), int(delay * 1000), self._min_left, DEFAULT_WINDOW_MS, cost],
        )
        return int(due_ms) / 1000.0

    def after_response(self, store_hash: str, status: int, headers: Mapping[str, str]) -> None:
        """Record what a response says about the store's quota (headers are case-insensitive).

        Call it exactly once for every ``before_request`` that got an answer (and ``release``
        for those that did not): it also ends the request's "in flight" mark.
        """
        self._observe(store_hash, status, headers, completes=True)

    def release(self, store_hash: str) -> None:
        """End the in-flight mark of a request that got no response (timeout, reset)."""
        self._observe(store_hash, 0, {}, completes=True)

    def _observe(
        self, store_hash: str, status: int, headers: Mapping[str, str], *, completes: bool
    ) -> None:
        quota = _int_header(headers, "X-Rate-Limit-Requests-Quota")
        window = _int_header(headers, "X-Rate-Limit-Time-Window-Ms")
        left = _int_header(headers, "X-Rate-Limit-Requests-Left")
        reset = _int_header(headers, "X-Rate-Limit-Time-Reset-Ms")
        retry_after_s = _int_header(headers, "X-Retry-After")
        retry_after = retry_after_s * 1000 if retry_after_s is not None else None
        is429 = status == 429
        if is429 and (reset is not None or retry_after is not None):
            logger.info(
                "store %s rate limited: all workers wait %.1f s",
                store_hash,
                (reset if reset is not None else retry_after or 0) / 1000.0,
            )
        now = self._now_ms()

        def opt(v: int | None) -> str | int:
            return "" if v is None else v

        self._observe_script(
            keys=[self._key(store_hash)],
            args=[
                now,
                opt(quota),
                opt(window),
                opt(left),
                opt(reset),
                opt(retry_after),
                1 if is429 else 0,
                DEFAULT_WINDOW_MS,
                1 if completes else 0,
            ],
        )

    def snapshot(self, store_hash: str) -> dict[str, Any]:
        """The stored pacing state of one store (for tests and the admin view)."""
        raw = self._redis.hgetall(self._key(store_hash))
        out: dict[str, Any] = {}
        for k, v in raw.items():
            key = k.decode() if isinstance(k, bytes) else k
            val = v.decode() if isinstance(v, bytes) else v
            try:
                out[key] = int(float(val))
            except ValueError:
                out[key] = val
        return out


# --------------------------------------------------------------------------------------------
# CircuitBreaker
#
# State per store: failures (consecutive), open_until (epoch ms; absent = closed),
# probe_until (epoch ms; the half-open probe's lease). Open until open_until, then half-open:
# exactly one caller per open period gets a probe lease; its success closes the circuit, its
# failure re-opens it for another open period. A probe that never reports loses its lease after
# one open period, so a crashed worker cannot wedge the store.
# --------------------------------------------------------------------------------------------

_CHECK_LUA = """
local h = KEYS[1]
local now = tonumber(ARGV[1])
local open_ms = tonumber(ARGV[2])
local open_until = redis.call('HGET', h, 'open_until')
if not open_until then return {0, 0} end
open_until = tonumber(open_until)
if now < open_until then return {1, open_until - now} end
local probe = tonumber(redis.call('HGET', h, 'probe_until') or '0')
if probe > now then return {2, probe - now} end
redis.call('HSET', h, 'probe_until', now + open_ms)
redis.call('PEXPIRE', h, open_ms * 10)
return {3, 0}
"""

_FAILURE_LUA = """
local h = KEYS[1]
local now = tonumber(ARGV[1])
local threshold = tonumber(ARGV[2])
local open_ms = tonumber(ARGV[3])
local fails = redis.call('HINCRBY', h, 'failures', 1)
local open_until = redis.call('HGET', h, 'open_until')
local result = 0
if open_until then
  if now >= tonumber(open_until) then
    redis.call('HSET', h, 'open_until', now + open_ms)
    redis.call('HDEL', h, 'probe_until')
    result = 2
  end
elseif fails >= threshold then
  redis.call('HSET', h, 'open_until', now + open_ms)
  result = 1
end
redis.call('PEXPIRE', h, open_ms * 10)
return {result, fails}
"""

_SUCCESS_LUA = """
local was_open = redis.call('HEXISTS', KEYS[1], 'open_until')
redis.call('DEL', KEYS[1])
return was_open
"""


class CircuitBreaker:
    """Per-store circuit breaker shared by all workers (Fowler's closed/open/half-open)."""

    def __init__(
        self,
        redis: Redis,
        *,
        key_prefix: str = "bc:circuit",
        failure_threshold: int = 5,
        open_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._threshold = max(1, failure_threshold)
        self._open_ms = max(1, int(open_seconds * 1000))
        self._clock = clock
        self._check_script = redis.register_script(_CHECK_LUA)
        self._failure_script = redis.register_script(_FAILURE_LUA)
        self._success_script = redis.register_script(_SUCCESS_LUA)

    def _key(self, store_hash: str) -> str:
        return f"{self._prefix}:{store_hash}"

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def check(self, store_hash: str) -> None:
        """Return if a call may go out; raise ``CircuitOpen(retry_after=...)`` otherwise."""
        now = self._now_ms()
        reply = self._check_script(keys=[self._key(store_hash)], args=[now, self._open_ms])
        code, remaining = (int(x) for x in reply)
        if code == 0:
            return
        if code == 3:
            circuit_logger.info("circuit half-open for store %s: sending one probe", store_hash)
            return
        retry_after = remaining / 1000.0
        why = "open" if code == 1 else "half-open, probe in flight"
        raise CircuitOpen(
            f"circuit {why} for store {store_hash}; retry in {retry_after:.1f} s",
            retry_after=retry_after,
            service="bigcommerce",
        )

    def record_success(self, store_hash: str) -> None:
        """The store answered usefully: close the circuit and forget earlier failures."""
        was_open = bool(self._success_script(keys=[self._key(store_hash)]))
        if was_open:
            circuit_logger.info("circuit closed for store %s", store_hash)

    def record_failure(self, store_hash: str) -> None:
        """Count one consecutive failure (5xx, timeout, bare 429); open at the threshold."""
        now = self._now_ms()
        transition, fails = (
            int(x)
            for x in self._failure_script(
                keys=[self._key(store_hash)], args=[now, self._threshold, self._open_ms]
            )
        )
        if transition == 1:
            circuit_logger.warning(
                "circuit opened for store %s after %d consecutive failures; calls refused %.0f s",
                store_hash,
                fails,
                self._open_ms / 1000.0,
            )
        elif transition == 2:
            circuit_logger.warning(
                "circuit re-opened for store %s: probe failed; next probe in %.0f s",
                store_hash,
                self._open_ms / 1000.0,
            )

    def state(self, store_hash: str) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"`` (for the admin view; no side effects)."""
        now = self._now_ms()
        raw = self._redis.hget(self._key(store_hash), "open_until")
        open_until = int(float(raw)) if raw is not None else None
        if open_until is None:
            return "closed"
        return "open" if now < open_until else "half_open"
