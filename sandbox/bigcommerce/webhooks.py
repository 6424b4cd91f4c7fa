"""Webhook delivery: a background scheduler that POSTs events, retries and deactivates hooks.

Deliveries follow BigCommerce's retry schedule (scaled by ``time_scale``), carry the hook's
custom headers (the documented authentication) and, unless ``sign_webhooks`` is off, a
Standard Webhooks signature with the app's client secret (only BigCommerce's sample code shows
one: UNCONFIRMED).
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import heapq
import hmac
import itertools
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from .config import BCSimConfig


def payload_hash(data: dict[str, Any]) -> str:
    """SHA-1 hex of the JSON-encoded ``data`` (stable key order so re-sends match)."""
    encoded = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return hashlib.sha1(encoded).hexdigest()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks signature header value for one attempt."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def scope_matches(subscribed: str, scope: str) -> bool:
    """Hooks may subscribe with a trailing wildcard, e.g. ``store/order/*``."""
    if subscribed.endswith("/*"):
        return scope.startswith(subscribed[:-1])
    return subscribed == scope


@dataclass
class Delivery:
    """One attempt to send one event to one hook (a snapshot: the hook may change later)."""

    event_id: str
    hook_id: int
    store_hash: str
    destination: str
    headers: dict[str, str]
    body: bytes
    attempt: int = 0
    copy: int = 0


@dataclass
class WebhookFaults:
    """Fault switches: drop a share of events, or send extra identical copies."""

    drop_ratio: float = 0.0
    duplicates: int = 0
    rng: random.Random = field(default_factory=random.Random)


class Dispatcher:
    """Schedules deliveries on a heap; a scheduler thread hands due ones to a small pool."""

    def __init__(
        self,
        config: BCSimConfig,
        hook_lookup: Callable[[str, int], dict[str, Any] | None],
        on_give_up: Callable[[str, int], None],
    ) -> None:
        self.config = config
        self._hook_lookup = hook_lookup
        self._on_give_up = on_give_up
        self._heap: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._pending = 0
        self._stopped = False
        self.faults = WebhookFaults()
        self.log: list[dict[str, Any]] = []
        self._pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="bcsim-hook")
        self._thread = threading.Thread(target=self._run, name="bcsim-webhooks", daemon=True)
        self._thread.start()

    # -- public -----------------------------------------------------------------------------

    def fire(
        self,
        store_hash: str,
        store_id: int,
        scope: str,
        data: dict[str, Any],
        hooks: list[dict[str, Any]],
    ) -> str:
        """Queue ``scope`` for every active matching hook; returns the event (webhook-id)."""
        event_id = "msg_" + uuid.uuid4().hex
        payload = {
            "scope": scope,
            "store_id": str(store_id),
            "data": data,
            "hash": payload_hash(data),
            "created_at": int(time.time()),
            "producer": f"stores/{store_hash}",
        }
        body = json.dumps(payload).encode()
        for hook in hooks:
            if not hook["is_active"] or not scope_matches(hook["scope"], scope):
                continue
            if self.faults.rng.random() < self.faults.drop_ratio:
                self._record(event_id, hook["id"], scope, 0, None, "dropped")
                continue
            for copy in range(1 + self.faults.duplicates):
                delivery = Delivery(
                    event_id=event_id,
                    hook_id=hook["id"],
                    store_hash=store_hash,
                    destination=hook["destination"],
                    headers=dict(hook.get("headers") or {}),
                    body=body,
                    copy=copy,
                )
                self._schedule(delivery, 0.0)
        return event_id

    def set_faults(self, drop_ratio: float, duplicates: int, seed: int | None) -> None:
        self.faults = WebhookFaults(drop_ratio, duplicates, random.Random(seed))

    def wait(self, timeout: float) -> bool:
        """Block until nothing is queued or in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    @property
    def pending(self) -> int:
        return self._pending

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- internals --------------------------------------------------------------------------

    def _schedule(self, delivery: Delivery, delay: float) -> None:
        with self._cond:
            self._pending += 1
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), delivery))
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, delivery = heapq.heappop(self._heap)
            try:
                self._pool.submit(self._attempt, delivery)
            except RuntimeError:  # pool shut down
                return

    def _attempt(self, delivery: Delivery) -> None:
        try:
            # Retries go only to hooks that still exist and are active (deleted on uninstall).
            hook = self._hook_lookup(delivery.store_hash, delivery.hook_id)
            if delivery.attempt > 0 and (hook is None or not hook["is_active"]):
                self._record_delivery(delivery, None, "abandoned")
                return
            status, outcome = self._post(delivery)
            self._record_delivery(delivery, status, outcome)
            if outcome != "delivered":
                self._retry_or_give_up(delivery)
        finally:
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()

    def _post(self, delivery: Delivery) -> tuple[int | None, str]:
        timestamp = int(time.time())
        headers = {**delivery.headers, "Content-Type": "application/json"}
        if self.config.sign_webhooks:  # UNCONFIRMED on real stores: see sandbox docs
            headers.update(
                {
                    "webhook-id": delivery.event_id,
                    "webhook-timestamp": str(timestamp),
                    "webhook-signature": sign(
                        self.config.client_secret, delivery.event_id, timestamp, delivery.body
                    ),
                }
            )
        try:
            resp = requests.post(
                delivery.destination,
                data=delivery.body,
                headers=headers,
                timeout=self.config.webhook_timeout,
                allow_redirects=False,
            )
        except requests.RequestException:
            return None, "error"
        return resp.status_code, "delivered" if 200 <= resp.status_code < 300 else "failed"

    def _retry_or_give_up(self, delivery: Delivery) -> None:
        schedule = self.config.retry_schedule
        if delivery.attempt < len(schedule):
            delay = schedule[delivery.attempt] * self.config.time_scale
            delivery.attempt += 1
            self._schedule(delivery, delay)
        else:
            self._on_give_up(delivery.store_hash, delivery.hook_id)

    def _record_delivery(self, delivery: Delivery, status: int | None, outcome: str) -> None:
        scope = json.loads(delivery.body)["scope"]
        self._record(delivery.event_id, delivery.hook_id, scope, delivery.attempt, status, outcome)

    def _record(
        self,
        event_id: str,
        hook_id: int,
        scope: str,
        attempt: int,
        status: int | None,
        outcome: str,
    ) -> None:
        with self._cond:
            self.log.append(
                {
                    "event_id": event_id,
                    "hook_id": hook_id,
                    "scope": scope,
                    "attempt": attempt,
                    "status": status,
                    "outcome": outcome,
                    "time": time.time(),
                }
            )
