"""Portal-side lifecycle actions shared by the callbacks, the admin and the CLI.

Anything that calls BigCommerce or Bindo (activation, connection checks) is enqueued for the
worker by dotted path; pausing and resuming only change rows (and resume enqueues a full sync).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select

from portal.alerts import notify, resolve_alert
from portal.extensions import db
from portal.models import (
    AuditLog,
    InstallNotification,
    JobRecord,
    Merchant,
    MerchantState,
    StaffUser,
    SyncRun,
    audit,
    utcnow,
)
from portal.queue import LOW, enqueue, make_job_id

ACTIVATE_JOB = "worker.jobs.lifecycle.activate_merchant"
CHECK_JOB = "worker.jobs.lifecycle.check_connection"
UNSUBSCRIBE_BINDO_JOB = "worker.jobs.lifecycle.unsubscribe_bindo"
FULL_SYNC_JOB = "worker.jobs.catalog.full_sync"


PAUSE_REASON_CHARS = 500


class LifecycleError(Exception):
    """A transition that is not allowed from the merchant's current state (message for staff)."""


# -- install notifications ---------------------------------------------------------------------


def add_notification(merchant: Merchant, kind: str, message: str) -> InstallNotification:
    """Record an install/reinstall/reauth/uninstall notice for staff and send it out."""
    row = InstallNotification(merchant_id=merchant.id, kind=kind, message=message)
    db.session.add(row)
    notify(f"[Bindo x BigCommerce] {kind}: {merchant.store_hash}", message)
    return row


def unread_notifications() -> int:
    stmt = select(func.count(InstallNotification.id)).where(
        InstallNotification.handled_at.is_(None)
    )
    return db.session.scalar(stmt) or 0


def mark_handled(ids: Iterable[int], staff: StaffUser) -> int:
    """Mark the given notifications handled by ``staff``; returns how many changed."""
    wanted = [int(i) for i in ids]
    rows = db.session.scalars(
        select(InstallNotification).where(
            InstallNotification.id.in_(wanted), InstallNotification.handled_at.is_(None)
        )
    ).all()
    for row in rows:
        row.handled_at, row.handled_by_id = utcnow(), staff.id
        audit(
            "notification.handled",
            actor_type="staff",
            actor=staff.email,
            merchant=row.merchant,
            notification_id=row.id,
        )
    db.session.commit()
    return len(rows)


# -- re-authorisation --------------------------------------------------------------------------


def state_before_reauth(merchant: Merchant) -> str:
    """The state a merchant had when a 401 marked it needs_reauth (from the audit trail)."""
    row = db.session.scalar(
        select(AuditLog)
        .where(AuditLog.merchant_id == merchant.id, AuditLog.action == "merchant.needs_reauth")
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(1)
    )
    previous = (row.detail or {}).get("previous") if row is not None else None
    valid = {MerchantState.INSTALLED.value, MerchantState.ACTIVE.value, MerchantState.PAUSED.value}
    return previous if previous in valid else MerchantState.INSTALLED.value


def restore_after_reauth(merchant: Merchant) -> str:
    """A fresh token arrived for a needs_reauth merchant: go back to where it was."""
    previous = state_before_reauth(merchant)
    merchant.state = previous
    resolve_alert("token_revoked", merchant=merchant)
    return previous


# -- staff actions -----------------------------------------------------------------------------


def _actor(actor: StaffUser | str) -> str:
    return actor.email if isinstance(actor, StaffUser) else str(actor)


def link_bindo(
    merchant: Merchant,
    actor: StaffUser | str,
    *,
    store_id: str,
    location_id: int | None,
    token: str | None = None,
    webhook_secret: str | None = None,
) -> None:
    """Save the Bindo link; blank secrets keep the stored ones (they are write-only), and so
    does a blank location (staff save the store and token first, check the connection, then
    pick the location from the store's list). A change clears the last check's result: it
    described the old link."""
    changed: list[str] = []
    if merchant.bindo_store_id != store_id:
        merchant.bindo_store_id, changed = store_id, [*changed, "bindo_store_id"]
    # The link form names one location; several are set up on the Locations page, and
    # re-saving the link (to rotate the token, say) with one of them must not drop the others.
    # A blank location keeps the saved ones.
    if location_id is not None and location_id not in (merchant.bindo_location_ids or []):
        merchant.bindo_location_ids, changed = [location_id], [*changed, "bindo_location_ids"]
    if token:
        merchant.bindo_token, changed = token, [*changed, "bindo_token"]
    if webhook_secret:
        merchant.bindo_webhook_secret = webhook_secret
        changed.append("bindo_webhook_secret")
    if changed and merchant.last_connection_check:
        # Keep the store's locations list (the choices of the form) unless the store changed.
        kept = {}
        if "bindo_store_id" not in changed and "bindo_locations" in merchant.last_connection_check:
            kept = {"bindo_locations": merchant.last_connection_check["bindo_locations"]}
        merchant.last_connection_check = kept or None
    # Only field names go to the audit log, never the secret values.
    audit(
        "merchant.bindo_linked",
        actor_type="staff",
        actor=_actor(actor),
        merchant=merchant,
        changed=changed,
    )
    db.session.commit()


def webhook_destination_problem(app_url: str) -> str | None:
    """Why BigCommerce would refuse our webhook destination (it delivers only to https on
    port 443), in a sentence for staff; None when the destination is acceptable."""
    try:
        parts = urlsplit(app_url.strip())
        port = parts.port
    except ValueError:
        port, parts = -1, urlsplit("")
    if parts.scheme != "https" or not parts.hostname or port not in (None, 443):
        return (
            f"BigCommerce delivers webhooks only to https addresses on port 443, and APP_URL "
            f"is {app_url!r}: set APP_URL to the app's public https address, then activate."
        )
    return None


def activation_blocker(merchant: Merchant) -> str | None:
    """Why activation cannot start now, in a sentence for staff; None when it can."""
    if current_app.config.get("APP_ENV") == "production":
        problem = webhook_destination_problem(str(current_app.config.get("APP_URL") or ""))
        if problem:
            return problem
    if merchant.state == MerchantState.UNINSTALLED.value or merchant.access_token_enc is None:
        return "The app is not installed in this BigCommerce store."
    if merchant.state == MerchantState.NEEDS_REAUTH.value:
        return "BigCommerce refused the token: the merchant must open the app again first."
    if not merchant.bindo_linked:
        return "The Bindo link is incomplete (store id, API token and location are needed)."
    if not merchant.bindo_webhook_secret_enc:
        return "The Bindo webhook signing secret is missing."
    return None


def check_passed(merchant: Merchant) -> bool:
    """The last connection check (since the link was last changed) found both sides ok."""
    check = merchant.last_connection_check or {}
    return check.get("bigcommerce") == "ok" and check.get("bindo") == "ok"


def request_activation(merchant: Merchant, actor: StaffUser | str) -> JobRecord:
    """Enqueue the activation job (the job re-checks everything when it runs)."""
    audit(
        "merchant.activation_requested",
        actor_type=_staffish(actor),
        actor=_actor(actor),
        merchant=merchant,
    )
    return enqueue(
        ACTIVATE_JOB,
        merchant.id,
        _actor(actor),
        job_id=make_job_id("activate", merchant.id, int(utcnow().timestamp())),
        merchant_id=merchant.id,
    )


def request_connection_check(merchant: Merchant, actor: StaffUser | str) -> JobRecord:
    audit(
        "merchant.check_requested",
        actor_type=_staffish(actor),
        actor=_actor(actor),
        merchant=merchant,
    )
    return enqueue(
        CHECK_JOB,
        merchant.id,
        job_id=make_job_id("check", merchant.id, int(utcnow().timestamp())),
        merchant_id=merchant.id,
    )


def request_bindo_unsubscribe(merchant: Merchant) -> JobRecord | None:
    """After an uninstall, have a worker delete our Bindo webhook subscription for the store."""
    if not merchant.bindo_credentials:
        return None
    stamp = int((merchant.uninstalled_at or utcnow()).timestamp())
    return enqueue(
        UNSUBSCRIBE_BINDO_JOB,
        merchant.id,
        queue=LOW,
        job_id=make_job_id("bindo_unsubscribe", merchant.id, stamp),
        merchant_id=merchant.id,
    )


def _staffish(actor: StaffUser | str) -> str:
    return "staff" if isinstance(actor, StaffUser) else "system"


def pause(merchant: Merchant, actor: StaffUser | str, reason: str | None = None) -> None:
    """Stop all sync for the store; queued jobs do nothing (workers check ``syncing``).

    ``reason`` is shown to the merchant on the app page, so staff write it for them.
    """
    if merchant.state != MerchantState.ACTIVE.value:
        raise LifecycleError(f"Only an active merchant can be paused (it is {merchant.state}).")
    merchant.state, merchant.paused_at = MerchantState.PAUSED.value, utcnow()
    merchant.pause_reason = (reason or "").strip()[:PAUSE_REASON_CHARS] or None
    audit(
        "merchant.paused",
        actor_type=_staffish(actor),
        actor=_actor(actor),
        merchant=merchant,
        reason=merchant.pause_reason,
    )
    db.session.commit()


def resume(merchant: Merchant, actor: StaffUser | str) -> SyncRun:
    """Back to active: the orders that arrived while paused are imported at once, and a full
    sync catches up on what changed in Bindo."""
    if merchant.state != MerchantState.PAUSED.value:
        raise LifecycleError(f"Only a paused merchant can be resumed (it is {merchant.state}).")
    from portal.pausing import import_waiting_orders, waiting_orders

    waiting = waiting_orders(merchant)
    merchant.state, merchant.paused_at = MerchantState.ACTIVE.value, None
    merchant.pause_reason = None
    audit(
        "merchant.resumed",
        actor_type=_staffish(actor),
        actor=_actor(actor),
        merchant=merchant,
        waiting_orders=[o.bc_order_id for o in waiting],
    )
    db.session.commit()
    import_waiting_orders(merchant, waiting)
    return start_sync(merchant, "full", requested_by=actor)


# Settings the payload hash cannot see (content ownership, stock tracking): every product must
# be re-sent once, so the worker forgets the hashes before its full sync.
HASH_BLIND_SETTINGS = frozenset({"content_managed_by", "allow_out_of_stock_orders"})
SETTINGS_CHANGED_JOB = "worker.jobs.catalog.settings_changed"


def sync_after_settings_change(merchant: Merchant, changed: Iterable[str]) -> None:
    """Apply changed settings to the catalog: a plain full sync, or a re-send of everything."""
    if HASH_BLIND_SETTINGS & set(changed):
        enqueue(
            SETTINGS_CHANGED_JOB,
            merchant.id,
            queue=LOW,
            job_id=make_job_id("settings_changed", merchant.id),
            merchant_id=merchant.id,
        )
    else:
        start_sync(merchant, "full")


def start_sync(merchant: Merchant, kind: str, requested_by: Any = None) -> SyncRun:
    """Create a SyncRun (committed first) and enqueue the catalog full sync for it."""
    run = SyncRun(merchant_id=merchant.id, kind=kind)
    if isinstance(requested_by, StaffUser):
        run.requested_by_id = requested_by.id
    db.session.add(run)
    db.session.commit()
    enqueue(
        FULL_SYNC_JOB,
        run.id,
        queue=LOW,
        job_id=make_job_id("full_sync", merchant.id, run.id),
        merchant_id=merchant.id,
    )
    return run
