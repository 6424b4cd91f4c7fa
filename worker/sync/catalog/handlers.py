"""Catalog webhook handlers and the periodic reconcile check: which job a Bindo product
event or a BigCommerce store/product/updated becomes, and the catalog job names.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Merchant,
    ProductBinding,
    WebhookEvent,
)
from portal.queue import DEFAULT, enqueue, make_job_id
from worker.context import redis
from worker.periodic import enqueue_when_due, periodic

log = logging.getLogger(__name__)

PUSH_JOB = "worker.jobs.catalog.push_products"
CHECK_JOB = "worker.jobs.catalog.check_bc_products"
RECONCILE_JOB = "worker.jobs.catalog.reconcile"
ECHO_WINDOW_SECONDS = 60  # default of CATALOG_ECHO_WINDOW_SECONDS (see is_echo)
ECHO_BEFORE_SECONDS = 30  # BigCommerce's seconds vs our clock; an edit before a write is moot
CHECK_BATCH = 50  # products per drift check job: one GET with id:in


def push_job_id(store_hash: str, bindo_id: int) -> str:
    """Coalesces the events of one product while its push waits in the queue."""
    return make_job_id("push", "product", store_hash, bindo_id)


# --- webhook handlers ---------------------------------------------------------------------------


def on_bindo_product_event(event: WebhookEvent, merchant: Merchant) -> None:
    """product.created/updated/deleted: push that product (the job re-reads Bindo)."""
    product_id = (event.payload.get("data") or {}).get("product_id")
    if not isinstance(product_id, int):
        log.warning("bindo event %s has no product id", event.id)
        return
    enqueue(
        PUSH_JOB,
        merchant.id,
        [product_id],
        queue=DEFAULT,
        job_id=push_job_id(merchant.store_hash, product_id),
        merchant_id=merchant.id,
    )


def is_echo(pushed_at: datetime | None, event_created_at: Any) -> bool:
    """Whether a store/product/updated was most likely caused by our own last write.

    The payload carries only the product id and BigCommerce's ``created_at`` (Unix seconds),
    so the rule is time-based: an event stamped from ECHO_BEFORE_SECONDS before our last
    write of the product to CATALOG_ECHO_WINDOW_SECONDS after it is ours. An edit the merchant
    made in that window is not lost: the periodic reconcile's drift check restores it. A
    window of 0 (the stricter setting) checks every event with a read.
    """
    window = float(current_app.config.get("CATALOG_ECHO_WINDOW_SECONDS", ECHO_WINDOW_SECONDS))
    if window <= 0 or pushed_at is None or not isinstance(event_created_at, int | float):
        return False
    pushed = pushed_at.timestamp()
    return pushed - ECHO_BEFORE_SECONDS <= float(event_created_at) <= pushed + window


def check_key(merchant_id: int) -> str:
    """Redis set of BigCommerce product ids waiting for the store's next drift check."""
    return f"bc:check-pending:{merchant_id}"


def request_check(merchant: Merchant, bc_ids: list[int]) -> None:
    """Note the products and queue one check per store (coalesced while it waits)."""
    redis().sadd(check_key(merchant.id), *bc_ids)
    enqueue(
        CHECK_JOB,
        merchant.id,
        queue=DEFAULT,
        job_id=make_job_id("bc_check", merchant.store_hash),
        merchant_id=merchant.id,
    )


def take_checks(merchant_id: int) -> list[int]:
    """Up to CHECK_BATCH pending ids (left in the set until their check succeeded)."""
    return sorted(int(i) for i in redis().srandmember(check_key(merchant_id), CHECK_BATCH))


def done_checks(merchant: Merchant, bc_ids: list[int]) -> None:
    """Forget checked ids; if more are waiting, queue the next check."""
    conn = redis()
    if bc_ids:
        conn.srem(check_key(merchant.id), *bc_ids)
    if conn.scard(check_key(merchant.id)):
        enqueue(
            CHECK_JOB,
            merchant.id,
            queue=DEFAULT,
            job_id=make_job_id("bc_check", merchant.store_hash, "more"),
            merchant_id=merchant.id,
        )


def screen_product_updates(events: list[WebhookEvent]) -> dict[int, str]:
    """The relay's screen for store/product/updated, before any job exists: an echo of our
    own write (``is_echo``) and an event about a product that is not ours are settled here,
    one query per store, with no job and no request. The rest go to the handler below."""
    wanted: dict[int, dict[int, list[WebhookEvent]]] = {}
    settled: dict[int, str] = {}
    for event in events:
        data = event.payload.get("data") if isinstance(event.payload, dict) else None
        bc_id = data.get("id") if isinstance(data, dict) else None
        if isinstance(bc_id, int) and event.merchant_id is not None:
            wanted.setdefault(event.merchant_id, {}).setdefault(bc_id, []).append(event)
    for merchant_id, by_product in wanted.items():
        stamps = dict(
            db.session.execute(
                select(ProductBinding.bc_product_id, ProductBinding.pushed_at).where(
                    ProductBinding.merchant_id == merchant_id,
                    ProductBinding.bc_product_id.in_(list(by_product)),
                )
            ).all()
        )
        for bc_id, group in by_product.items():
            for event in group:
                if bc_id not in stamps:
                    settled[event.id] = "not a product of ours"
                elif is_echo(stamps[bc_id], event.payload.get("created_at")):
                    settled[event.id] = "echo of our own write"
    return settled


def on_bigcommerce_product_updated(event: WebhookEvent, merchant: Merchant) -> None:
    """store/product/updated: an echo of our own write is dropped (no request); for any other
    edit of a product of ours, the store's next batched check re-reads it (50 per GET) and
    restores the Bindo-owned fields that differ from what we pushed."""
    bc_id = (event.payload.get("data") or {}).get("id")
    if not isinstance(bc_id, int):
        return
    binding = db.session.scalar(
        select(ProductBinding).where(
            ProductBinding.merchant_id == merchant.id, ProductBinding.bc_product_id == bc_id
        )
    )
    if binding is None:
        return  # a product the merchant made in BigCommerce: not ours to touch
    if is_echo(binding.pushed_at, event.payload.get("created_at")):
        log.debug("store %s: product %s updated by our own write", merchant.store_hash, bc_id)
        return
    request_check(merchant, [bc_id])


def _register_handlers() -> None:
    """Hook the handlers into the inbox dispatcher (it imports this module lazily)."""
    try:
        from worker.inbox import handles, screens
    except ImportError:  # pragma: no cover - the dispatcher ships separately
        return
    screens("bigcommerce", "store/product/updated")(screen_product_updates)
    handles("bindo", "product.created", "product.updated", "product.deleted")(
        on_bindo_product_event
    )
    handles("bigcommerce", "store/product/updated")(on_bigcommerce_product_updated)


_register_handlers()


@periodic
def enqueue_due_catalog_reconciles() -> None:
    """Every RECONCILE_INTERVAL_SECONDS per active merchant: a catalog reconcile (LOW queue)."""
    enqueue_when_due(
        "reconcile",
        job=RECONCILE_JOB,
        last_run_attr="last_reconciled_at",
        interval_setting="RECONCILE_INTERVAL_SECONDS",
    )
