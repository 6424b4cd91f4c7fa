"""RQ entry points for stock (Bindo -> BigCommerce): debounced pushes and reconciliation."""

from __future__ import annotations

import logging
from typing import Any

from rq import get_current_job

from portal import metrics
from worker.clients.errors import Unauthorized
from worker.context import load_merchant, mark_needs_reauth
from worker.runtime import tracked
from worker.sync import stock

log = logging.getLogger(__name__)


@tracked
def push_stock(merchant_id: int, bindo_product_ids: list[int] | None = None) -> dict[str, Any]:
    """Push the levels of ``bindo_product_ids`` plus every id waiting in the pending set.

    ``None`` (and no pending ids) means every pushed product: a full, watermark-filtered push.
    """
    merchant = load_merchant(merchant_id)
    pending = stock.take_pending(merchant_id)
    ids = (
        None
        if bindo_product_ids is None and not pending
        else sorted({*(bindo_product_ids or ()), *pending})
    )
    try:
        result = stock.push_stock(merchant, ids)
    except Unauthorized as exc:
        mark_needs_reauth(merchant, exc)
        raise
    stock.done_pending(merchant_id, pending)
    if result.sent:
        job = get_current_job()
        metrics.record_stock_push(result.sent, job.created_at if job else None)
    return stock.result_summary(result)


@tracked
def stock_reconcile(merchant_id: int) -> dict[str, Any]:
    """Compare all Bindo stock with BigCommerce's levels and fix (and count) the drift."""
    merchant = load_merchant(merchant_id)
    try:
        result = stock.reconcile_stock(merchant)
    except Unauthorized as exc:
        mark_needs_reauth(merchant, exc)
        raise
    return stock.result_summary(result)
