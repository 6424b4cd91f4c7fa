"""Per-store rate limiting, scripted faults and the request log of the API surface."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

FAULT_MODES = ("429", "429_no_headers", "500", "503", "timeout", "malformed_json", "207")


@dataclass
class RateWindow:
    """Outcome of charging one request to a store's fixed window."""

    allowed: bool
    quota: int
    left: int
    window_ms: int
    reset_ms: int

    def headers(self) -> dict[str, str]:
        return {
            "X-Rate-Limit-Time-Window-Ms": str(self.window_ms),
            "X-Rate-Limit-Time-Reset-Ms": str(self.reset_ms),
            "X-Rate-Limit-Requests-Quota": str(self.quota),
            "X-Rate-Limit-Requests-Left": str(self.left),
        }


class RateLimiter:
    """Fixed windows per store: ``quota`` requests per ``window_ms``."""

    def __init__(self, quota: int, window_ms: int) -> None:
        self.quota = quota
        self.window_ms = window_ms
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def charge(self, store_hash: str) -> RateWindow:
        now = time.monotonic()
        window_s = self.window_ms / 1000
        with self._lock:
            start, used = self._windows.get(store_hash, (now, 0))
            if now - start >= window_s:
                start, used = now, 0
            allowed = used < self.quota
            if allowed:
                used += 1
            self._windows[store_hash] = (start, used)
        reset_ms = max(0, int((start + window_s - now) * 1000))
        return RateWindow(allowed, self.quota, self.quota - used, self.window_ms, reset_ms)

    def peek(self, store_hash: str) -> RateWindow:
        """Current window without charging (for responses that were not charged)."""
        now = time.monotonic()
        window_s = self.window_ms / 1000
        with self._lock:
            start, used = self._windows.get(store_hash, (now, 0))
        if now - start >= window_s:
            start, used = now, 0
        reset_ms = max(0, int((start + window_s - now) * 1000))
        return RateWindow(True, self.quota, self.quota - used, self.window_ms, reset_ms)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


@dataclass
class FaultRule:
    """A scripted failure consumed ``count`` times by matching API requests, in order."""

    mode: str
    count: int = 1
    store_hash: str | None = None
    path_prefix: str | None = None
    delay: float | None = None

    def matches(self, store_hash: str, api_path: str) -> bool:
        if self.store_hash and self.store_hash != store_hash:
            return False
        if not self.path_prefix:
            return True
        full = f"/stores/{store_hash}{api_path}"
        return api_path.startswith(self.path_prefix) or full.startswith(self.path_prefix)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "count": self.count,
            "store_hash": self.store_hash,
            "path_prefix": self.path_prefix,
            "delay": self.delay,
        }


class FaultQueue:
    """Ordered fault rules; the first matching rule with count left is consumed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> None:
        if rule.mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {rule.mode!r}; use one of {FAULT_MODES}")
        if rule.count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._rules.append(rule)

    def take(self, store_hash: str, api_path: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(store_hash, api_path):
                    rule.count -= 1
                    if rule.count == 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.as_dict() for rule in self._rules]


class RequestLog:
    """Every API request as (time, store, method, endpoint template, status)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[dict[str, Any]] = []

    def record(self, store_hash: str, method: str, endpoint: str, status: int) -> None:
        entry = {
            "time": time.time(),
            "store_hash": store_hash,
            "method": method,
            "endpoint": endpoint,
            "status": status,
        }
        with self._lock:
            self.entries.append(entry)

    def summary(self, store_hash: str | None = None) -> dict[str, Any]:
        with self._lock:
            rows = [e for e in self.entries if store_hash in (None, e["store_hash"])]
        by_endpoint = Counter(f"{e['method']} {e['endpoint']}" for e in rows)
        statuses = Counter(str(e["status"]) for e in rows)
        return {
            "total": len(rows),
            "by_endpoint": dict(by_endpoint),
            "status_counts": dict(statuses),
        }

    def reset(self) -> None:
        with self._lock:
            self.entries.clear()
