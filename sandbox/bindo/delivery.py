"""Outbound webhook delivery: a scheduler thread, a small sender pool, retries, fault switches."""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import requests

from sandbox.bindo.config import BindoSimConfig
from sandbox.bindo.signing import sign


@dataclass
class DeliveryFaults:
    """Switches that make the simulator misbehave the ways a real POS does."""

    drop: bool = False  # record the event but never send it (lost webhook)
    duplicate: bool = False  # send every event twice (at-least-once delivery)
    bad_signature: bool = False  # sign with a wrong secret
    paused: bool = False  # hold everything until unpaused (bursts, reordering)
    delay: float = 0.0  # extra seconds (unscaled) before each first attempt


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    url: str = field(compare=False)
    event: dict[str, Any] = field(compare=False)
    secret_for: Callable[[], str] = field(compare=False)
    attempt: int = field(compare=False, default=1)


class Dispatcher:
    """Delivers events to subscriber URLs; ``wait_idle`` lets tests wait for the outcome."""

    def __init__(self, config: BindoSimConfig) -> None:
        self.config = config
        self.faults = DeliveryFaults()
        self.attempts: list[dict[str, Any]] = []  # one row per HTTP attempt, for tests/UI
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._in_flight = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._stopped = False
        self._session = requests.Session()

    # -- public -----------------------------------------------------------------------

    def enqueue(self, url: str, event: dict[str, Any], secret_for: Callable[[], str]) -> None:
        """Schedule the first attempt of ``event`` to ``url`` (twice when duplicating)."""
        if self.faults.drop:
            return
        copies = 2 if self.faults.duplicate else 1
        due = time.monotonic() + self.faults.delay
        with self._cond:
            self._ensure_started()
            for _ in range(copies):
                heapq.heappush(self._heap, _Job(due, next(self._seq), url, event, secret_for))
            self._cond.notify_all()

    def set_faults(self, **changes: Any) -> DeliveryFaults:
        """Change some fault switches; unknown names raise ``TypeError``."""
        with self._cond:
            self.faults = DeliveryFaults(**{**asdict(self.faults), **changes})
            self._cond.notify_all()
            return self.faults

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued, scheduled for retry, or in flight."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._in_flight

    def shutdown(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._pool:
            self._pool.shutdown(wait=False, cancel_futures=True)

    # -- internals --------------------------------------------------------------------

    def _ensure_started(self) -> None:
        # Started lazily so building an app (or importing) never spawns threads.
        if self._thread is None:
            self._pool = ThreadPoolExecutor(self.config.delivery_workers, "bindo-hook")
            self._thread = threading.Thread(target=self._run, name="bindo-dispatch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                job = self._next_due_job()
                if job is None:
                    return
                self._in_flight += 1
            assert self._pool is not None
            self._pool.submit(self._attempt, job)

    def _next_due_job(self) -> _Job | None:
        """Block (holding the condition) until a job is due; None when stopped."""
        while not self._stopped:
            if self._heap and not self.faults.paused:
                wait = self._heap[0].due - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(self._heap)
                self._cond.wait(wait)
            else:
                self._cond.wait()
        return None

    def _attempt(self, job: _Job) -> None:
        try:
            status, error = self._send(job)
            self._record(job, status, error)
            if status is None or not 200 <= status < 300:
                self._schedule_retry(job)
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _send(self, job: _Job) -> tuple[int | None, str | None]:
        body = json.dumps(job.event, separators=(",", ":")).encode()
        secret = "not-the-secret" if self.faults.bad_signature else job.secret_for()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Bindo-Webhooks/1.0",
            "Bindo-Event-Id": job.event["id"],
            "Bindo-Event": job.event["type"],
            # A fresh timestamp per attempt so receivers can enforce a replay window.
            "Bindo-Signature": sign(secret, body, int(time.time())),
        }
        try:
            resp = self._session.post(
                job.url, data=body, headers=headers, timeout=self.config.webhook_timeout
            )
        except requests.RequestException as exc:
            return None, type(exc).__name__
        return resp.status_code, None

    def _record(self, job: _Job, status: int | None, error: str | None) -> None:
        row = {
            "event_id": job.event["id"],
            "type": job.event["type"],
            "store_id": job.event["store_id"],
            "url": job.url,
            "attempt": job.attempt,
            "status": status,
            "error": error,
            "at": time.time(),
        }
        with self._cond:
            self.attempts.append(row)

    def _schedule_retry(self, job: _Job) -> None:
        schedule = self.config.retry_schedule
        if job.attempt > len(schedule):
            return  # gave up: the last scheduled retry failed too
        delay = schedule[job.attempt - 1] * self.config.time_scale
        retry = _Job(
            time.monotonic() + delay,
            next(self._seq),
            job.url,
            job.event,
            job.secret_for,
            job.attempt + 1,
        )
        with self._cond:
            heapq.heappush(self._heap, retry)
            self._cond.notify_all()
