"""RQ entry points for orders (BigCommerce -> Bindo): import one order, sweep for missed ones."""

from __future__ import annotations

import logging
from typing import Any

from shared.mapping import MappingError
from worker.clients.errors import (
    ApiError,
    CircuitOpen,
    NotFound,
    RetryableError,
    Unauthorized,
)
from worker.context import load_merchant, mark_needs_reauth
from worker.runtime import tracked
from worker.sync import orders

log = logging.getLogger(__name__)


@tracked
def import_order(merchant_id: int, bc_order_id: int) -> str:
    """Import (or bring up to date) one BigCommerce order; returns the ImportedOrder state.

    Retryable errors (429, 5xx, timeouts) are recorded on the row and re-raised so RQ retries;
    final ones (422, 404, 409 ...) are recorded and wait for a staff re-import.
    """
    merchant = load_merchant(merchant_id)
    try:
        return orders.import_order(merchant, int(bc_order_id))
    except CircuitOpen:
        raise  # not a failure of the order: the job is deferred (worker/runtime.py)
    except Unauthorized as exc:
        if exc.service == "bigcommerce":
            mark_needs_reauth(merchant, exc)
        orders.record_failure(merchant, int(bc_order_id), exc)
        return orders.FAILED
    except (RetryableError, TimeoutError) as exc:
        orders.record_failure(merchant, int(bc_order_id), exc)
        raise
    except NotFound as exc:
        # Deleted in BigCommerce (or a wrong id): nothing to import; staff can see why.
        orders.record_failure(merchant, int(bc_order_id), exc)
        return orders.FAILED
    except (ApiError, MappingError) as exc:
        orders.record_failure(merchant, int(bc_order_id), exc)
        log.warning("order %s of %s failed for good: %s", bc_order_id, merchant.store_hash, exc)
        return orders.FAILED


@tracked
def sweep_orders(merchant_id: int) -> dict[str, Any]:
    """Enqueue imports for orders missed by webhooks; re-activate deactivated hooks."""
    merchant = load_merchant(merchant_id)
    try:
        return orders.sweep_orders(merchant)
    except Unauthorized as exc:
        mark_needs_reauth(merchant, exc)
        raise
