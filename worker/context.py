"""Per-merchant API clients for jobs, and what happens when a store's token stops working."""

from __future__ import annotations

import logging

from flask import current_app
from redis import Redis

from portal import metrics
from portal.extensions import db
from portal.logs import bind_log_context
from portal.models import Merchant, MerchantState, audit, utcnow
from portal.queue import redis_conn
from worker.clients.bigcommerce import BigCommerceClient
from worker.clients.bindo import BindoClient
from worker.clients.errors import Unauthorized
from worker.clients.pacing import CircuitBreaker, RatePacer

log = logging.getLogger(__name__)


class MerchantInactive(Exception):
    """The merchant is not active (paused, uninstalled, needs re-auth): the job does nothing."""


def redis() -> Redis:
    """The app's Redis connection (portal/queue.py's factory, with its timeouts)."""
    return redis_conn()


def load_merchant(merchant_id: int, *, require_active: bool = True) -> Merchant:
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None:
        raise MerchantInactive(f"merchant {merchant_id} does not exist")
    bind_log_context(merchant=merchant.id, store_hash=merchant.store_hash)
    if require_active and not merchant.syncing:
        raise MerchantInactive(f"merchant {merchant.store_hash} is {merchant.state}")
    return merchant


def bc_client(merchant: Merchant, *, deferred_calls: int | None = None) -> BigCommerceClient:
    """The store's client. With ``deferred_calls`` (stock pushes, order imports: short jobs on
    a worker other merchants share; the calls such a job makes) a wait for the quota longer
    than QUOTA_WAIT_SECONDS raises QuotaSpent, and the job is deferred (worker/runtime.py
    ``defer``) to when that many calls are reserved for it; without, the client waits."""
    if not merchant.access_token_enc:
        raise MerchantInactive(f"merchant {merchant.store_hash} has no BigCommerce token")
    conn = redis()
    return BigCommerceClient(
        current_app.config["BIGCOMMERCE_API_URL"],
        merchant.store_hash,
        merchant.access_token,
        pacer=RatePacer(conn),
        breaker=CircuitBreaker(conn),
        on_request=metrics.bigcommerce_observer(),
        max_quota_wait=None if deferred_calls is None else current_app.config["QUOTA_WAIT_SECONDS"],
        calls_per_job=deferred_calls or 1,
    )


def bindo_client(merchant: Merchant) -> BindoClient:
    if not merchant.bindo_linked:
        raise MerchantInactive(f"merchant {merchant.store_hash} is not linked to a Bindo store")
    return BindoClient(
        current_app.config["BINDO_API_URL"], merchant.bindo_store_id, merchant.bindo_token
    )


def mark_needs_reauth(merchant: Merchant, exc: Unauthorized) -> None:
    """BigCommerce answered 401: stop calling for this store and tell staff, once."""
    if merchant.state == MerchantState.NEEDS_REAUTH.value:
        return
    from portal.alerts import raise_alert

    previous = merchant.state
    merchant.state = MerchantState.NEEDS_REAUTH.value
    audit("merchant.needs_reauth", merchant=merchant, previous=previous, status=exc.status)
    raise_alert(
        "token_revoked",
        f"BigCommerce refused the token of {merchant.store_hash} (401): the merchant must open "
        "the app again in BigCommerce to re-authorise it. Sync is stopped.",
        merchant=merchant,
    )
    merchant.updated_at = utcnow()
    db.session.commit()
    log.warning("store %s needs re-authorisation; calls stopped", merchant.store_hash)
