"""Multi-location set-up by staff: which Bindo locations feed BigCommerce, and how.

The worker already publishes stock in two modes (docs/stock-and-orders.md): ``sum`` adds every
linked Bindo location into one BigCommerce location; ``map`` sends each linked Bindo location
to its own BigCommerce location. Staff choose from the two stores' own lists, which a worker
reads (``worker.jobs.store_lists.refresh_locations``) into ``Merchant.known_locations``; the
portal never calls either API while rendering. :func:`check` says what is incomplete, in
sentences for staff, before anything is saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from portal.extensions import db
from portal.models import Merchant, StaffUser, audit
from portal.queue import DEFAULT, LOW, enqueue, make_job_id

REFRESH_JOB = "worker.jobs.store_lists.refresh_locations"
STOCK_RECONCILE_JOB = "worker.jobs.stock.stock_reconcile"
MODES = ("sum", "map")
MAX_SAFETY_BUFFER = 1_000_000


@dataclass
class LocationChoice:
    """What staff submitted (or what is saved), before it is checked."""

    bindo_location_ids: list[int]
    mode: str
    bc_location_id: int | None
    location_map: dict[str, int] = field(default_factory=dict)
    safety_buffer: int = 0

    @classmethod
    def of(cls, merchant: Merchant) -> LocationChoice:
        return cls(
            [int(i) for i in merchant.bindo_location_ids or []],
            merchant.location_mode or "sum",
            merchant.bc_location_id,
            {str(k): int(v) for k, v in (merchant.location_map or {}).items()},
            int(merchant.safety_buffer or 0),
        )


def known(merchant: Merchant) -> dict[str, Any]:
    lists = merchant.known_locations if isinstance(merchant.known_locations, dict) else {}
    return {
        "bindo": [loc for loc in lists.get("bindo") or [] if isinstance(loc, dict)],
        "bigcommerce": [loc for loc in lists.get("bigcommerce") or [] if isinstance(loc, dict)],
        "errors": lists.get("errors") or {},
        "fetched_at": lists.get("fetched_at"),
    }


def check(choice: LocationChoice, lists: dict[str, Any]) -> list[str]:
    """Why this set-up is incomplete or wrong; empty when every linked location is published."""
    problems: list[str] = []
    bindo_ids = {int(loc["id"]) for loc in lists["bindo"]}
    bc_ids = {int(loc["id"]) for loc in lists["bigcommerce"]}
    if not choice.bindo_location_ids:
        problems.append("Link at least one Bindo location.")
    unknown = [i for i in choice.bindo_location_ids if bindo_ids and i not in bindo_ids]
    if unknown:
        problems.append(
            f"Bindo location {', '.join(map(str, unknown))} is not in the Bindo store's list."
        )
    if choice.mode not in MODES:
        problems.append("Choose sum or map mode.")
    if not 0 <= choice.safety_buffer <= MAX_SAFETY_BUFFER:
        problems.append("The safety buffer must be a whole number from 0.")
    if choice.bc_location_id is None:
        problems.append("Choose the BigCommerce location.")
    elif bc_ids and choice.bc_location_id not in bc_ids:
        problems.append(
            f"BigCommerce location {choice.bc_location_id} is not in the store's location list."
        )
    if choice.mode == "map":
        unmapped = [i for i in choice.bindo_location_ids if str(i) not in choice.location_map]
        if unmapped:
            problems.append(
                f"Map Bindo location {', '.join(map(str, unmapped))} to a BigCommerce location: "
                "unmapped locations are not published."
            )
        bad = sorted(
            {v for k, v in choice.location_map.items() if bc_ids and v not in bc_ids}
            & {choice.location_map.get(str(i)) for i in choice.bindo_location_ids}
        )
        if bad:
            problems.append(
                f"BigCommerce location {', '.join(map(str, bad))} is not in the store's list."
            )
        mapped_targets = {choice.location_map.get(str(i)) for i in choice.bindo_location_ids}
        if choice.bc_location_id is not None and choice.bc_location_id not in mapped_targets:
            problems.append(
                f"Online orders sell from BigCommerce location {choice.bc_location_id}, but no "
                "linked Bindo location is mapped to it: orders would lower the first linked "
                "location's stock."
            )
    return problems


def save(merchant: Merchant, choice: LocationChoice, staff: StaffUser) -> dict[str, list[Any]]:
    """Write a checked set-up with an audit row; re-publish stock when the merchant syncs."""
    new: dict[str, Any] = {
        "bindo_location_ids": list(choice.bindo_location_ids),
        "location_mode": choice.mode,
        "bc_location_id": choice.bc_location_id,
        "location_map": (
            {str(i): choice.location_map[str(i)] for i in choice.bindo_location_ids}
            if choice.mode == "map"
            else {}
        ),
        "safety_buffer": choice.safety_buffer,
    }
    changes = {k: [getattr(merchant, k), v] for k, v in new.items() if getattr(merchant, k) != v}
    if not changes:
        return {}
    for key, (_old, value) in changes.items():
        setattr(merchant, key, value)
    audit(
        "merchant.locations_changed",
        actor_type="staff",
        actor=staff.email,
        merchant=merchant,
        changes=changes,
    )
    db.session.commit()
    if merchant.syncing:
        # Levels move with the new set-up: the reconcile compares and sends what differs.
        enqueue(
            STOCK_RECONCILE_JOB,
            merchant.id,
            queue=LOW,
            job_id=make_job_id("stock_reconcile", merchant.id),
            merchant_id=merchant.id,
        )
    return changes


def request_refresh(merchant: Merchant, staff: StaffUser | None = None) -> None:
    if staff is not None:
        audit(
            "merchant.locations_refresh_requested",
            actor_type="staff",
            actor=staff.email,
            merchant=merchant,
        )
        db.session.commit()
    enqueue(
        REFRESH_JOB,
        merchant.id,
        queue=DEFAULT,
        job_id=make_job_id("refresh_locations", merchant.id),
        merchant_id=merchant.id,
    )
