"""Catalog webhook handlers and the periodic reconcile check: which job a Bindo product
event or a BigCommerce store/product/updated becomes, and the catalog job names.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Merchant,
    ProductBinding,
    WebhookEvent,
)
from portal.queue import DEFAULT, enqueue, make_job_id
from worker.periodic import enqueue_when_due, periodic

log = logging.getLogger(__name__)

PUSH_JOB = "worker.jobs.catalog.push_products"
CHECK_JOB = "worker.jobs.catalog.check_bc_products"
RECONCILE_JOB = "worker.jobs.catalog.reconcile"


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


def on_bigcommerce_product_updated(event: WebhookEvent, merchant: Merchant) -> None:
    """store/product/updated: if the product is ours, check its Bindo-owned fields (a job
    re-reads them; our own echo compares equal and costs no push)."""
    bc_id = (event.payload.get("data") or {}).get("id")
    if not isinstance(bc_id, int):
        return
    bound = db.session.scalar(
        select(ProductBinding.id).where(
            ProductBinding.merchant_id == merchant.id, ProductBinding.bc_product_id == bc_id
        )
    )
    if bound is None:
        return  # a product the merchant made in BigCommerce: not ours to touch
    enqueue(
        CHECK_JOB,
        merchant.id,
        [bc_id],
        queue=DEFAULT,
        job_id=make_job_id("bc", "product", merchant.store_hash, bc_id),
        merchant_id=merchant.id,
    )


def _register_handlers() -> None:
    """Hook the handlers into the inbox dispatcher (it imports this module lazily)."""
    try:
        from worker.inbox import handles
    except ImportError:  # pragma: no cover - the dispatcher ships separately
        return
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
