"""Outcomes of a catalog run: one Outcome per Bindo product, a SyncReport per batch, and
the count keys and SyncRunItem actions the jobs and pages show.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.clients.errors import (
    RetryableError,
)

COUNT_KEYS = ("created", "updated", "linked", "hidden", "unchanged", "skipped", "failed")
# SyncRunItem.action per outcome.
ITEM_ACTIONS = {
    "created": "create",
    "updated": "update",
    "linked": "link",
    "hidden": "hide",
    "unchanged": "unchanged",
    "skipped": "skip",
    "failed": "error",
    "deferred": "deferred",
}


@dataclass
class Outcome:
    """What happened to one Bindo product in one run (or would happen, in a dry run)."""

    bindo_id: int
    action: str  # one of COUNT_KEYS, or "deferred" (locked by another job)
    message: str | None = None
    bc_id: int | None = None
    variants: dict[str, int] | None = None  # dry runs: variants to create/link/update/remove


@dataclass
class SyncReport:
    """The outcomes of one batch plus why it stopped early, if it did."""

    outcomes: list[Outcome] = field(default_factory=list)
    retryable: RetryableError | None = None
    stopped: str | None = None

    def counts(self) -> dict[str, int]:
        totals = dict.fromkeys(COUNT_KEYS, 0)
        for outcome in self.outcomes:
            totals[outcome.action] = totals.get(outcome.action, 0) + 1
        return totals

    def merge(self, other: SyncReport) -> None:
        self.outcomes.extend(other.outcomes)
        self.retryable = self.retryable or other.retryable
        self.stopped = self.stopped or other.stopped
