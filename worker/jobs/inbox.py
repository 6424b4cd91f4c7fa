"""RQ entry points for the webhook inbox: ``process_event(event_id)`` and
``dispatch_received()``, which queues the former for every newly stored row."""

from __future__ import annotations

from worker import inbox  # registers the relay check and the lifecycle handlers
from worker.runtime import tracked


@tracked
def process_event(event_id: int) -> str:
    """Dispatch one inbox row to its handler; failures are recorded and re-raised for Retry."""
    return inbox.process(event_id)


@tracked
def dispatch_received() -> int:
    """Queue a ``process_event`` job for every stored row that has none yet."""
    return inbox.dispatch_received()
