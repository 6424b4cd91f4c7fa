"""RQ entry point for the webhook inbox: ``process_event(event_id)``."""

from __future__ import annotations

from worker import inbox  # registers the lifecycle handlers
from worker.runtime import tracked


@tracked
def process_event(event_id: int) -> str:
    """Dispatch one inbox row to its handler; failures are recorded and re-raised for Retry."""
    return inbox.process(event_id)
