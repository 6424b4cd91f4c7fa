"""RatePacer and CircuitBreaker against real Redis (the Lua scripts themselves;
there is no in-process copy) with a fake clock. The db is TEST_REDIS_URL's (default db 14)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator

import pytest
import redis

from worker.clients.errors import CircuitOpen, QuotaSpent
from worker.clients.pacing import CircuitBreaker, RatePacer

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
STORE = "abc123"


class FakeClock:
    """Shared fake time: ``sleep`` advances it instead of waiting (thread-safe)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class FakeStore:
    """A BigCommerce store's fixed-window quota, answering with the real rate headers."""

    def __init__(self, clock: FakeClock, quota: int, window_ms: int) -> None:
        self.clock = clock
        self.quota = quota
        self.window_ms = window_ms
        self.window_end: float | None = None
        self.used = 0
        self.per_window: list[int] = []
        self.rejected = 0
        self._lock = threading.Lock()

    def handle(self, extra_used: int = 0) -> tuple[int, dict[str, str]]:
        with self._lock:
            now = self.clock() * 1000
            if self.window_end is None or now >= self.window_end:
                self.window_end = now + self.window_ms
                self.used = 0
                self.per_window.append(0)
            self.used += extra_used  # another app on the same store
            status = 200
            if self.used >= self.quota:
                self.rejected += 1
                status = 429
            else:
                self.used += 1
                self.per_window[-1] += 1
            headers = {
                "X-Rate-Limit-Requests-Left": str(max(0, self.quota - self.used)),
                "X-Rate-Limit-Requests-Quota": str(self.quota),
                "X-Rate-Limit-Time-Reset-Ms": str(int(self.window_end - now)),
                "X-Rate-Limit-Time-Window-Ms": str(self.window_ms),
            }
            return status, headers


def rate_headers(left: int, reset_ms: int, quota: int = 150, window_ms: int = 30_000):
    return {
        "X-Rate-Limit-Requests-Left": str(left),
        "X-Rate-Limit-Requests-Quota": str(quota),
        "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
        "X-Rate-Limit-Time-Window-Ms": str(window_ms),
    }


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_pacer(redis_db, clock):
    """Build pacers on Redis: every pacer shares the store's state, as workers do."""

    def build(**kwargs) -> RatePacer:
        return RatePacer(redis_db, sleep=clock.sleep, clock=clock, **kwargs)

    return build


@pytest.fixture
def make_breaker(redis_db, clock):
    def build(**kwargs) -> CircuitBreaker:
        return CircuitBreaker(redis_db, clock=clock, **kwargs)

    return build


# ------------------------------------------------------------------------------- pacing


def test_budget_says_what_is_left_now_and_when_it_refills_without_taking_any(make_pacer, clock):
    pacer = make_pacer()
    assert pacer.budget(STORE).available is None  # no response yet: the quota is unknown
    pacer.before_request(STORE)
    pacer.after_response(STORE, 200, rate_headers(left=40, reset_ms=12_000))
    budget = pacer.budget(STORE)
    assert budget.available == 39  # min_left=1 stays in reserve
    assert 12.0 <= budget.refill_in <= 12.5
    assert pacer.budget(STORE).available == 39  # reading takes nothing
    for _ in range(39):
        assert pacer.try_acquire(STORE) == 0
        pacer.release(STORE)
    assert pacer.budget(STORE).available == 0
    clock.advance(12.5)
    assert pacer.budget(STORE).available == 149  # the next window, whole


def test_budget_is_zero_while_a_429_block_lasts(make_pacer):
    pacer = make_pacer()
    pacer.before_request(STORE)
    pacer.after_response(STORE, 429, {"X-Rate-Limit-Time-Reset-Ms": "8000"})
    budget = pacer.budget(STORE)
    assert budget.available == 0 and 8.0 <= budget.refill_in <= 8.5


def test_no_wait_while_requests_are_left(make_pacer, clock):
    pacer = make_pacer()
    pacer.before_request(STORE)
    pacer.after_response(STORE, 200, rate_headers(left=35, reset_ms=15_000))
    assert pacer.before_request(STORE) == 0
    assert clock.sleeps == []


def test_waits_until_reset_when_no_requests_left(make_pacer, clock):
    pacer = make_pacer()
    pacer.before_request(STORE)
    pacer.after_response(STORE, 200, rate_headers(left=0, reset_ms=15_000))
    waited = pacer.before_request(STORE)
    assert 15.0 <= waited <= 15.5
    # The new window is open: the next call goes straight through.
    assert pacer.before_request(STORE) == 0


def test_a_bounded_caller_gets_quota_spent_instead_of_a_long_wait(make_pacer, clock):
    pacer = make_pacer()
    pacer.before_request(STORE)
    pacer.after_response(STORE, 200, rate_headers(left=0, reset_ms=15_000))
    with pytest.raises(QuotaSpent) as info:
        pacer.before_request(STORE, max_wait=2.0)
    assert 15.0 <= info.value.retry_after <= 15.5  # come back when the window refills
    assert clock.sleeps == []  # it did not wait
    # ... and took nothing: once the window has refilled the call goes straight through.
    clock.advance(info.value.retry_after)
    assert pacer.before_request(STORE, max_wait=2.0) == 0


def test_callers_that_will_not_wait_are_spread_over_the_windows_they_fit_in(make_pacer, clock):
    """Quota 3 (2 usable: min_left 1) per 30 s, spent for the next 15 s: the first two
    deferred calls are due in the window from the refill on (spread over its first half), the
    next two a window later, and so on; a caller deferred after those reservations lapsed is
    due at its own refill again."""
    pacer = make_pacer()
    pacer.before_request(STORE)
    pacer.after_response(STORE, 200, rate_headers(left=0, reset_ms=15_000, quota=3))

    def deferred() -> float:
        with pytest.raises(QuotaSpent) as info:
            pacer.before_request(STORE, max_wait=2.0)
        return info.value.retry_after

    dues = [round(deferred()) for _ in range(3)]
    # The next response moves the window's end by 40 ms: still the same window.
    pacer.after_response(STORE, 200, rate_headers(left=0, reset_ms=15_040, quota=3))
    dues += [round(deferred()) for _ in range(2)]
    assert dues == [15, 23, 45, 53, 75]  # 15.05, 22.55, ...: the pacer's 0.05 s margin
    # A job that makes 2 calls reserves both: it goes to the first window with room for 2.
    with pytest.raises(QuotaSpent) as info:
        pacer.before_request(STORE, max_wait=2.0, cost=2)
    assert round(info.value.retry_after) == 105
    clock.advance(200)  # every reservation is past; the store's window is spent again
    pacer.before_request(STORE)
    pacer.after_response(STORE, 200, rate_headers(left=0, reset_ms=10_000, quota=3))
    assert round(deferred()) == 10


def test_a_wait_within_the_bound_is_waited(make_pacer, clock):
    pacer = make_pacer()
    pacer.before_request(STORE)
    pacer.after_response(STORE, 200, rate_headers(left=0, reset_ms=1_500))
    waited = pacer.before_request(STORE, max_wait=2.0)
    assert 1.5 <= waited <= 2.0


def test_rate_headers_are_case_insensitive(make_pacer):
    pacer = make_pacer()
    pacer.before_request(STORE)
    lower = {k.lower(): v for k, v in rate_headers(left=0, reset_ms=4_000).items()}
    pacer.after_response(STORE, 200, lower)
    assert 4.0 <= pacer.before_request(STORE) <= 4.5


def test_keeps_min_left_in_reserve(make_pacer):
    pacer = make_pacer(min_left=5)
    pacer.before_request(STORE)
    pacer.after_response(STORE, 200, rate_headers(left=6, reset_ms=10_000))
    assert pacer.before_request(STORE) == 0  # 6 left -> one more, leaving 5
    assert 10.0 <= pacer.before_request(STORE) <= 10.5


def test_429_with_reset_blocks_the_store_for_every_worker(redis_db, clock):
    worker_a = RatePacer(redis_db, sleep=clock.sleep, clock=clock)
    worker_b = RatePacer(redis_db, sleep=clock.sleep, clock=clock)
    worker_a.before_request(STORE)
    worker_a.after_response(STORE, 429, {"X-Rate-Limit-Time-Reset-Ms": "15000"})
    waited = worker_b.before_request(STORE)
    # T27: the next call to that store goes out 15.0-16.5 s later, none during the wait.
    assert 15.0 <= waited <= 16.5
    assert worker_a.before_request(STORE) == 0


def test_429_block_applies_to_the_next_call(make_pacer):
    pacer = make_pacer()
    pacer.after_response(STORE, 429, {"x-retry-after": "3"})
    assert 3.0 <= pacer.before_request(STORE) <= 3.5


def test_429_without_headers_does_not_block(make_pacer, clock):
    pacer = make_pacer()
    pacer.before_request(STORE)
    pacer.after_response(STORE, 429, {})
    assert pacer.before_request(STORE) == 0


def test_stores_are_paced_independently(make_pacer):
    pacer = make_pacer()
    pacer.before_request(STORE)
    pacer.after_response(STORE, 429, {"X-Rate-Limit-Time-Reset-Ms": "15000"})
    assert pacer.before_request("other1") == 0


def test_single_worker_uses_most_of_the_quota_without_429(make_pacer, clock):
    store = FakeStore(clock, quota=150, window_ms=30_000)
    pacer = make_pacer()
    for _ in range(600):
        pacer.before_request(STORE)
        status, headers = store.handle()
        pacer.after_response(STORE, status, headers)
        clock.advance(0.01)
    assert store.rejected == 0
    full_windows = store.per_window[:-1]
    assert full_windows and all(n >= 0.8 * 150 for n in full_windows)


def test_other_apps_usage_on_the_store_is_respected(make_pacer, clock):
    store = FakeStore(clock, quota=150, window_ms=30_000)
    pacer = make_pacer()
    for i in range(400):
        pacer.before_request(STORE)
        # Another app burns 2 units for each of ours during the first 40 requests.
        status, headers = store.handle(extra_used=2 if i < 40 else 0)
        pacer.after_response(STORE, status, headers)
    assert store.rejected == 0


def test_threads_never_exceed_the_quota_in_a_window(make_pacer, clock):
    store = FakeStore(clock, quota=20, window_ms=1_000)
    pacers = [make_pacer() for _ in range(4)]  # on Redis: four "workers" sharing the quota
    # The first answer teaches the quota; after that, 8 threads race for it.
    pacers[0].before_request(STORE)
    pacers[0].after_response(STORE, *store.handle())
    errors: list[BaseException] = []

    def run(pacer: RatePacer) -> None:
        try:
            for _ in range(40):
                pacer.before_request(STORE)
                status, headers = store.handle()
                pacer.after_response(STORE, status, headers)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(pacers[i % 4],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not errors
    assert store.rejected == 0
    assert sum(store.per_window) == 1 + 8 * 40
    assert max(store.per_window) <= 20


def test_release_frees_the_in_flight_mark(make_pacer):
    pacer = make_pacer()
    pacer.before_request(STORE)
    pacer.release(STORE)
    assert pacer.snapshot(STORE).get("inflight", 0) == 0


def test_redis_state_expires(redis_db, clock):
    pacer = RatePacer(redis_db, sleep=clock.sleep, clock=clock)
    pacer.before_request(STORE)
    pacer.after_response(STORE, 200, rate_headers(left=10, reset_ms=15_000))
    ttl = redis_db.pttl(f"bc:rate:{STORE}")
    assert 0 < ttl <= 15_000 + 2 * 30_000


# ------------------------------------------------------------------------------- breaker


def test_breaker_opens_after_five_consecutive_failures(make_breaker, caplog):
    breaker = make_breaker()
    caplog.set_level(logging.INFO, logger="worker.clients.circuit")
    for _ in range(4):
        breaker.record_failure(STORE)
        breaker.check(STORE)  # still closed
    breaker.record_failure(STORE)
    with pytest.raises(CircuitOpen) as info:
        breaker.check(STORE)
    assert 29.0 <= info.value.retry_after <= 30.0
    assert breaker.state(STORE) == "open"
    assert any("opened" in r.getMessage() for r in caplog.records)


def test_success_resets_the_consecutive_count(make_breaker):
    breaker = make_breaker()
    for _ in range(4):
        breaker.record_failure(STORE)
    breaker.record_success(STORE)
    for _ in range(4):
        breaker.record_failure(STORE)
    breaker.check(STORE)
    assert breaker.state(STORE) == "closed"


def test_one_probe_per_open_period_then_closes_on_success(make_breaker, clock, caplog):
    caplog.set_level(logging.INFO, logger="worker.clients.circuit")
    breaker = make_breaker(open_seconds=30.0)
    for _ in range(5):
        breaker.record_failure(STORE)
    clock.advance(10)
    with pytest.raises(CircuitOpen) as info:
        breaker.check(STORE)
    assert info.value.retry_after == pytest.approx(20.0)
    clock.advance(20)
    breaker.check(STORE)  # this caller is the probe
    with pytest.raises(CircuitOpen):
        breaker.check(STORE)  # everyone else keeps waiting while the probe runs
    breaker.record_success(STORE)
    breaker.check(STORE)
    assert breaker.state(STORE) == "closed"
    assert any("closed" in r.getMessage() for r in caplog.records)


def test_failed_probe_reopens_for_another_period(make_breaker, clock):
    breaker = make_breaker(open_seconds=30.0)
    for _ in range(5):
        breaker.record_failure(STORE)
    clock.advance(30)
    breaker.check(STORE)  # probe
    breaker.record_failure(STORE)
    with pytest.raises(CircuitOpen) as info:
        breaker.check(STORE)
    assert info.value.retry_after == pytest.approx(30.0)
    clock.advance(30)
    breaker.check(STORE)  # the next period's single probe


def test_probe_that_never_reports_loses_its_lease(make_breaker, clock):
    breaker = make_breaker(open_seconds=30.0)
    for _ in range(5):
        breaker.record_failure(STORE)
    clock.advance(30)
    breaker.check(STORE)  # probe taken, worker dies
    clock.advance(30)
    breaker.check(STORE)  # a new probe is allowed


def test_breaker_is_shared_between_workers(redis_db, clock):
    worker_a = CircuitBreaker(redis_db, clock=clock)
    worker_b = CircuitBreaker(redis_db, clock=clock)
    for _ in range(5):
        worker_a.record_failure(STORE)
    with pytest.raises(CircuitOpen):
        worker_b.check(STORE)
    worker_b.check("other1")


def test_only_one_of_many_threads_gets_the_probe(redis_db, clock):
    breaker = CircuitBreaker(redis_db, clock=clock)
    for _ in range(5):
        breaker.record_failure(STORE)
    clock.advance(30)
    passed: list[int] = []

    def try_check(i: int) -> None:
        try:
            breaker.check(STORE)
            passed.append(i)
        except CircuitOpen:
            pass

    threads = [threading.Thread(target=try_check, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(passed) == 1
