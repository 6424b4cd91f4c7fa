"""Configuration of the Bindo POS simulator (every time window is scalable for tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Bindo's documented webhook retry delays in seconds (docs/bindo-api.md, "Retries").
RETRY_SCHEDULE: tuple[float, ...] = (10, 60, 300, 1800)


def utcnow() -> datetime:
    """The default clock; tests swap it to make ``updated_since`` deterministic."""
    return datetime.now(UTC)


@dataclass
class BindoSimConfig:
    """Knobs of one simulator instance; defaults mirror the published contract."""

    # Base URL put into image URLs; None means "the host the request came in on"
    # (tests bind port 0, so the port is unknown when the app is built).
    public_url: str | None = None
    port: int = 5200
    # Rate limit per token; None switches it off (the default, so tests are not throttled).
    rate_limit_per_minute: int | None = None
    rate_limit_window: float = 60.0
    max_per_page: int = 250
    default_per_page: int = 100
    # Webhook deliveries: real delays are multiplied by time_scale (e.g. 0.001 in tests).
    retry_schedule: tuple[float, ...] = field(default=RETRY_SCHEDULE)
    time_scale: float = 1.0
    webhook_timeout: float = 5.0
    delivery_workers: int = 4
    clock: Callable[[], datetime] = utcnow
