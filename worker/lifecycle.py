"""Lifecycle work that calls the outside APIs: activation (webhooks, first sync) and checks.

Entry points live in worker/jobs/lifecycle.py; these functions take ids, reload state and
write outcomes (merchant columns and audit rows) before letting API failures surface.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from typing import Any

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.lifecycle import activation_blocker, start_sync
from portal.models import InstallNotification, Merchant, MerchantState, StaffUser, audit, utcnow
from worker.clients.bigcommerce import BigCommerceClient
from worker.clients.bindo import BindoClient
from worker.clients.errors import (
    ApiError,
    Forbidden,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
)
from worker.context import bc_client, load_merchant, mark_needs_reauth

log = logging.getLogger(__name__)

BC_SCOPES = (
    "store/order/created",
    "store/order/statusUpdated",
    # A second partial refund changes no status: only this event tells (issue 15 item 5).
    "store/order/refund/created",
    "store/product/updated",
    "store/app/uninstalled",
)
BINDO_EVENTS = ("product.created", "product.updated", "product.deleted", "inventory.updated")
HOOK_SECRET_HEADER = "X-Bindo-Hook-Secret"


def _app_url() -> str:
    return current_app.config["APP_URL"].rstrip("/")


def bc_destination() -> str:
    return f"{_app_url()}/webhooks/bigcommerce"


def bindo_destination(merchant: Merchant) -> str:
    return f"{_app_url()}/webhooks/bindo/{merchant.id}"


def bindo_api(merchant: Merchant) -> BindoClient:
    """A Bindo client from whatever link is saved (the location is not needed to call)."""
    return BindoClient(
        current_app.config["BINDO_API_URL"], merchant.bindo_store_id, merchant.bindo_token
    )


def _error_text(exc: Exception) -> str:
    # ApiError messages carry status and server text, never request headers or tokens.
    if isinstance(exc, ApiError):
        return f"{type(exc).__name__}: {exc.title or exc.message}"[:500]
    return type(exc).__name__


SERVICE_NAMES = {"bindo": "Bindo", "bigcommerce": "BigCommerce"}


def plain_error(exc: Exception, service: str) -> str:
    """The failure as a sentence that says what to do (shown to staff where they acted)."""
    name = SERVICE_NAMES.get(getattr(exc, "service", "") or service, service)
    if isinstance(exc, Unauthorized):
        if name == "Bindo":
            return "Bindo rejected the API token; copy it again from Bindo and save the link."
        return "BigCommerce refused the token (401): the merchant must re-authorise the app."
    if isinstance(exc, Forbidden):
        return f"{name} refused access (403): the token lacks a permission this store needs."
    if isinstance(exc, NotFound) and name == "Bindo":
        return "Bindo has no store with this id: check the Bindo store id."
    if isinstance(exc, RateLimited):
        return f"{name} is limiting our requests right now; try again in a minute."
    if isinstance(exc, TransportError):
        return f"{name} could not be reached; try again in a minute."
    if isinstance(exc, ServerError):
        return f"{name} answered with a server error; try again in a minute."
    return _error_text(exc)


# -- connection check ----------------------------------------------------------------------------


def check_connection(merchant_id: int) -> dict[str, Any]:
    """Call BigCommerce /v2/time and Bindo list_locations; store and return the result."""
    merchant = load_merchant(merchant_id, require_active=False)
    bindo, locations = _check_bindo(merchant)
    result: dict[str, Any] = {
        "bigcommerce": _check_bigcommerce(merchant),
        "bindo": bindo,
        "checked_at": utcnow().isoformat(),
    }
    if result["bigcommerce"] == "ok":
        result["hooks"] = _hooks_summary(merchant)
    if locations:
        # Offered as the choices of the link form's location (id and name only).
        result["bindo_locations"] = locations
    merchant.last_connection_check = result
    audit("merchant.connection_checked", merchant=merchant, **result)
    db.session.commit()
    return result


def _check_bigcommerce(merchant: Merchant) -> str:
    if merchant.access_token_enc is None:
        return "no token: the app is not installed"
    try:
        bc_client(merchant).get_time()
    except Unauthorized as exc:
        mark_needs_reauth(merchant, exc)
        return "refused the token (401): the merchant must re-authorise the app"
    except ApiError as exc:
        return plain_error(exc, "bigcommerce")
    return "ok"


def _hooks_summary(merchant: Merchant) -> list[dict[str, Any]] | str:
    """Our BigCommerce hooks as the check saw them (scope, destination, active), for staff."""
    try:
        hooks = bc_client(merchant).list_hooks()
    except ApiError as exc:
        return _error_text(exc)
    return [
        {
            "id": h.get("id"),
            "scope": h.get("scope"),
            "destination": h.get("destination"),
            "is_active": h.get("is_active"),
        }
        for h in hooks
    ]


def _check_bindo(merchant: Merchant) -> tuple[str, list[dict[str, Any]]]:
    """ "ok" or what is wrong, and the store's locations (id, name) when Bindo answered."""
    if not merchant.bindo_credentials:
        return "not linked: Bindo store id and API token are needed", []
    try:
        answered = bindo_api(merchant).list_locations()
    except ApiError as exc:
        return plain_error(exc, "bindo"), []
    locations = [
        {"id": int(loc["id"]), "name": str(loc.get("name") or "")[:100]}
        for loc in answered
        if str(loc.get("id", "")).isdigit()
    ]
    known = {loc["id"] for loc in locations}
    missing = [i for i in merchant.bindo_location_ids or [] if int(i) not in known]
    if missing:
        return f"location {', '.join(map(str, missing))} not found in the Bindo store", locations
    return "ok", locations


# -- activation ----------------------------------------------------------------------------------


def activate(merchant_id: int, actor: str) -> dict[str, Any]:
    """Check the connection, register webhooks on both sides, set active and start the
    initial sync (idempotent).

    A merchant already active only gets its webhooks re-ensured (no second initial sync).
    Refusals are recorded (lifecycle_error + audit) and returned, not raised: retrying would
    not help until staff fix the link.
    """
    merchant = load_merchant(merchant_id, require_active=False)
    blocker = activation_blocker(merchant)
    if blocker:
        return _refuse(merchant, actor, blocker)
    # The connection check runs first (and is recorded): a wrong token or location stops here
    # with its plain message instead of half-registering webhooks.
    check = check_connection(merchant.id)
    problems = [
        f"{name}: {check[key]}"
        for key, name in (("bigcommerce", "BigCommerce"), ("bindo", "Bindo"))
        if check.get(key) != "ok"
    ]
    merchant = db.session.get(Merchant, merchant_id) or merchant
    if merchant.state == MerchantState.NEEDS_REAUTH.value or problems:
        return _refuse(merchant, actor, "Connection check failed. " + " ".join(problems))
    if merchant.hook_secret_enc is None:
        merchant.hook_secret = secrets.token_urlsafe(32)
        db.session.commit()
    try:
        hooks = ensure_bc_hooks(bc_client(merchant), merchant)
        bindo = ensure_bindo_webhook(bindo_api(merchant), merchant)
    except Unauthorized as exc:
        if exc.service == "bigcommerce" or not exc.service:
            mark_needs_reauth(merchant, exc)
        return _refuse(merchant, actor, f"Activation stopped: {plain_error(exc, '')}")
    except ApiError as exc:
        _record_failure(merchant, actor, f"Activation failed: {plain_error(exc, '')}")
        raise
    return _mark_active(merchant, actor, hooks, bindo)


def _mark_active(
    merchant: Merchant, actor: str, hooks: dict[str, str], bindo: str
) -> dict[str, Any]:
    was_active = merchant.state == MerchantState.ACTIVE.value
    merchant.lifecycle_error = None
    result: dict[str, Any] = {"state": "active", "hooks": hooks, "bindo_webhook": bindo}
    if not was_active:
        merchant.state = MerchantState.ACTIVE.value
        merchant.activated_at, merchant.paused_at = utcnow(), None
        merchant.activated_by_id = _staff_id(actor)
        _mark_notifications_handled(merchant)
    audit(
        "merchant.activated",
        actor_type="staff" if _staff_id(actor) else "system",
        actor=actor,
        merchant=merchant,
        already_active=was_active,
        hooks=hooks,
        bindo=bindo,
    )
    db.session.commit()
    if not was_active:
        staff = (
            db.session.get(StaffUser, merchant.activated_by_id)
            if merchant.activated_by_id
            else None
        )
        result["sync_run_id"] = start_sync(merchant, "initial", requested_by=staff).id
    log.info("merchant %s active (hooks %s)", merchant.store_hash, hooks)
    return result


def _mark_notifications_handled(merchant: Merchant) -> None:
    """The install notice asked staff to activate the store: that is now done."""
    rows = db.session.scalars(
        select(InstallNotification).where(
            InstallNotification.merchant_id == merchant.id,
            InstallNotification.handled_at.is_(None),
            InstallNotification.kind.in_(("install", "reinstall")),
        )
    ).all()
    for row in rows:
        row.handled_at, row.handled_by_id = utcnow(), merchant.activated_by_id


def _staff_id(actor: str) -> int | None:
    return db.session.scalar(select(StaffUser.id).where(StaffUser.email == actor))


def _refuse(merchant: Merchant, actor: str, reason: str) -> dict[str, Any]:
    _record_failure(merchant, actor, reason, action="merchant.activation_refused")
    log.info("activation of %s refused: %s", merchant.store_hash, reason)
    return {"refused": reason}


def _record_failure(
    merchant: Merchant, actor: str, reason: str, action: str = "merchant.activation_failed"
) -> None:
    db.session.rollback()
    merchant = db.session.get(Merchant, merchant.id) or merchant
    merchant.lifecycle_error = reason
    audit(
        action,
        actor_type="staff" if _staff_id(actor) else "system",
        actor=actor,
        merchant=merchant,
        reason=reason,
    )
    db.session.commit()


def ensure_bc_hooks(client: BigCommerceClient, merchant: Merchant) -> dict[str, str]:
    """One active hook per scope at our destination, carrying the merchant's secret header.

    Existing hooks at our destination are updated when inactive or carrying another secret,
    else left alone; returns scope -> "created" | "updated" | "unchanged".
    """
    destination = bc_destination()
    headers = {HOOK_SECRET_HEADER: merchant.hook_secret or ""}
    ours = {h.get("scope"): h for h in client.list_hooks() if h.get("destination") == destination}
    outcome: dict[str, str] = {}
    for scope in BC_SCOPES:
        hook = ours.get(scope)
        if hook is None:
            client.create_hook(scope, destination, headers, is_active=True)
            outcome[scope] = "created"
        elif not hook.get("is_active") or (hook.get("headers") or {}) != headers:
            client.update_hook(int(hook["id"]), is_active=True, headers=headers)
            outcome[scope] = "updated"
        else:
            outcome[scope] = "unchanged"
    return outcome


def ensure_bindo_webhook(client: BindoClient, merchant: Merchant) -> str:
    """Subscribe our per-merchant URL to the four events (the same URL replaces its events)."""
    url = bindo_destination(merchant)
    for hook in client.list_webhooks():
        if hook.get("url") == url and set(BINDO_EVENTS) <= set(hook.get("events") or []):
            return "unchanged"
    client.create_webhook(url, list(BINDO_EVENTS))
    return "subscribed"


def unsubscribe_bindo(merchant_id: int) -> dict[str, Any]:
    """After an uninstall: delete our Bindo webhook subscription for the store (idempotent),
    then delete the Bindo API token and webhook secret (docs/lifecycle.md: secrets after
    uninstall).

    Bindo would otherwise keep sending every product and stock change to a store we only
    acknowledge and drop. A store installed again meanwhile keeps its subscription and its
    secrets (its activation re-ensures the subscription anyway). A Bindo token that no longer
    works is recorded, not retried: the deliveries are harmless and staff can remove the
    subscription in Bindo. Any other error is raised (RQ retries) and keeps the token for
    the retry.
    """
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None or merchant.state != MerchantState.UNINSTALLED.value:
        return {"skipped": "not uninstalled"}
    if not merchant.bindo_credentials:
        _shred_bindo_secrets(merchant)
        return {"skipped": "no Bindo link"}
    client = bindo_api(merchant)
    url = bindo_destination(merchant)
    removed: list[int] = []
    try:
        for hook in client.list_webhooks():
            if hook.get("url") != url:
                continue
            # Deleted meanwhile (a second run, or by hand): the goal holds.
            with contextlib.suppress(NotFound):
                client.delete_webhook(int(hook["id"]))
            removed.append(int(hook["id"]))
    except Unauthorized as exc:
        audit("merchant.bindo_webhook_kept", merchant=merchant, reason=_error_text(exc))
        _shred_bindo_secrets(merchant)
        return {"skipped": _error_text(exc)}
    if removed:
        audit("merchant.bindo_webhook_removed", merchant=merchant, webhook_ids=removed)
    _shred_bindo_secrets(merchant)
    return {"removed": removed}


def _shred_bindo_secrets(merchant: Merchant) -> None:
    """Delete the uninstalled store's Bindo token and webhook secret (commits)."""
    if merchant.bindo_token_enc or merchant.bindo_webhook_secret_enc:
        merchant.bindo_token = None
        merchant.bindo_webhook_secret = None
        audit("merchant.bindo_secrets_deleted", merchant=merchant)
    db.session.commit()
