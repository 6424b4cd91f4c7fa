"""RQ entry points. Each takes ids, reloads state, and lets failures surface.

One module per area (lifecycle, catalog, stock, orders, inbox); these few are shared.
"""

from __future__ import annotations

from worker.runtime import tracked


@tracked
def diagnostics_echo(value: str) -> str:
    """A job that succeeds: staff use it to check that workers run (and the tests do too)."""
    return value


@tracked
def diagnostics_fail(message: str) -> None:
    """A job that fails on purpose, to check the failed registry and error recording."""
    raise RuntimeError(message)


@tracked
def tick() -> int:
    """Run every due periodic check (sweeps, reconciliations, alerts); the clock queues it."""
    from worker import inbox, periodic

    # Importing the areas registers their @periodic checks (reconciles, sweeps).
    inbox.load_areas()
    import worker.alerts  # noqa: F401 - registers the queue backlog / failing product checks

    return periodic.run_checks()
