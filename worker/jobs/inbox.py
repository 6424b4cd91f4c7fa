"""RQ entry points for the webhook inbox: ``process_event(event_id)``, which first queues the
jobs of rows stored meanwhile when a delivery signalled it, and ``dispatch_received()``."""

from __future__ import annotations

from worker import inbox  # registers the relay check and the lifecycle handlers
from worker.runtime import tracked


@tracked
def process_event(event_id: int, dispatch: bool = False) -> str:
    """Dispatch one inbox row to its handler; failures are recorded and re-raised for Retry.

    First queue the jobs of rows stored meanwhile: always with ``dispatch`` (the web process
    queued this job as the dispatching one), else when a delivery signalled it."""
    inbox.dispatch(signalled=dispatch)
    return inbox.process(event_id)


@tracked
def dispatch_received() -> int:
    """Queue a ``process_event`` job for every stored row that has none yet (queued only when a
    delivery's row was claimed by a running dispatch first, see portal/webhooks.py)."""
    return inbox.dispatch_received()
