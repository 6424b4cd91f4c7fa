"""BigCommerce app callbacks: /bigcommerce/auth, /load, /uninstall and /remove_user.

None of them uses cookie auth (they are CSRF-exempt): auth is proven by a one-time code that
we exchange server-side, the others by a signed_payload_jwt (see portal/jwt_verify.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from flask import (
    Blueprint,
    Flask,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import lifecycle
from portal.extensions import csrf, db
from portal.jwt_verify import CallbackClaims, JwtRejected, verify
from portal.models import (
    Merchant,
    MerchantState,
    MerchantUser,
    audit,
    merchant_by_hash,
    utcnow,
)
from portal.queue import redis_conn

log = logging.getLogger(__name__)
bp = Blueprint("bigcommerce", __name__, url_prefix="/bigcommerce")
CONTEXT_RE = re.compile(r"^stores/([a-z0-9]{1,64})$")
HTTP_TIMEOUT = (5, 15)  # connect, read: the merchant's iframe waits on this
APP_SESSION_SECONDS = 3600


class InstallFailed(Exception):
    """The install cannot complete; ``status`` and ``message`` are shown to the merchant."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Grant:
    """What a successful code exchange gave us."""

    store_hash: str
    access_token: str
    scopes: str
    account_uuid: str | None
    user_id: int | None
    user_email: str | None
    owner_id: int | None
    owner_email: str | None


def _page(status: int, title: str, message: str):
    return render_template("errors/error.html", title=title, message=message), status


# -- auth ------------------------------------------------------------------------------------


def scope_set(scopes: str | None) -> frozenset[str]:
    return frozenset((scopes or "").split())


def _exchange_code(code: str, scope: str, context: str) -> dict[str, Any]:
    """POST the seven fields to /oauth2/token; never log the code or the answer."""
    cfg = current_app.config
    fields = {
        "client_id": cfg["BIGCOMMERCE_CLIENT_ID"],
        "client_secret": cfg["BIGCOMMERCE_CLIENT_SECRET"],
        "code": code,
        "context": context,
        "scope": scope,
        "grant_type": "authorization_code",
        "redirect_uri": f"{cfg['APP_URL'].rstrip('/')}/bigcommerce/auth",
    }
    url = f"{cfg['BIGCOMMERCE_LOGIN_URL'].rstrip('/')}/oauth2/token"
    try:
        resp = requests.post(
            url,
            json=fields,
            headers={"Accept": "application/json"},
            timeout=HTTP_TIMEOUT,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        log.warning("token exchange failed: %s", type(exc).__name__)
        raise InstallFailed(502, "BigCommerce could not be reached. Please try again.") from exc
    if resp.status_code != 200:
        log.warning("token exchange refused with HTTP %s", resp.status_code)
        raise InstallFailed(502, "BigCommerce refused the installation code. Please try again.")
    try:
        body = resp.json()
    except ValueError as exc:
        raise InstallFailed(502, "BigCommerce gave an unreadable answer.") from exc
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise InstallFailed(502, "BigCommerce gave no access token.")
    return body


def _over_limit(key: str, limit: int, window: int) -> bool:
    redis = redis_conn()
    pipe = redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, window, nx=True)
    count, _ = pipe.execute()
    return int(count) > limit


def _throttle_exchange(store_hash: str) -> None:
    """Each code exchange carries our client secret to BigCommerce: cap them per address and
    per store in a fixed window (Redis counters), so made-up codes cannot make us call out
    without limit. Without Redis the install goes ahead (installs matter more; logged)."""
    cfg = current_app.config
    window = int(cfg["AUTH_CALLBACK_WINDOW_SECONDS"])
    prefix = f"{cfg.get('RQ_QUEUE_PREFIX', '')}auth-callback"
    try:
        by_address = _over_limit(
            f"{prefix}:ip:{request.remote_addr or 'unknown'}",
            int(cfg["AUTH_CALLBACK_MAX_PER_ADDRESS"]),
            window,
        )
        by_store = _over_limit(
            f"{prefix}:store:{store_hash}", int(cfg["AUTH_CALLBACK_MAX_PER_STORE"]), window
        )
    except RedisError:
        log.warning("auth callback throttle unavailable (Redis); exchange not limited")
        return
    if by_address or by_store:
        log.warning("auth callback throttled (%s)", "address" if by_address else "store")
        raise InstallFailed(
            429, "Too many installation attempts. Please wait a few minutes and try again."
        )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _person(body: dict[str, Any], key: str) -> tuple[int | None, str | None]:
    person = body.get(key) if isinstance(body.get(key), dict) else {}
    email = person.get("email")
    return _int(person.get("id")), (str(email)[:254] if email else None)


def _check_scopes(granted: str, expected: frozenset[str], context: str) -> None:
    """Every configured scope must be granted; extras (store_v2_default, ...) are only logged."""
    got = scope_set(granted)
    if not expected <= got:
        log.warning("install %s lacks scopes %s", context, sorted(expected - got))
        raise InstallFailed(400, "The granted permissions do not include what this app needs.")
    if got - expected:
        log.info("install %s granted extra scopes %s", context, sorted(got - expected))


def obtain_grant(args: dict[str, str]) -> Grant:
    """Validate the callback, exchange the code and validate the answer."""
    code, scope = args.get("code", ""), args.get("scope", "")
    context = args.get("context", "")
    match = CONTEXT_RE.match(context)
    if not code or not scope or match is None:
        raise InstallFailed(
            400, "The installation link is incomplete. Install again from BigCommerce."
        )
    expected = scope_set(current_app.config["BIGCOMMERCE_SCOPES"])
    _check_scopes(scope, expected, context)
    _throttle_exchange(match.group(1))
    body = _exchange_code(code, scope, context)
    if body.get("context") != context:
        raise InstallFailed(400, "BigCommerce answered for a different store.")
    if "scope" in body:
        _check_scopes(str(body["scope"]), expected, context)
    user_id, user_email = _person(body, "user")
    owner_id, owner_email = _person(body, "owner")
    account = body.get("account_uuid") or args.get("account_uuid")
    return Grant(
        store_hash=match.group(1),
        access_token=body["access_token"],
        scopes=str(body.get("scope") or scope),
        account_uuid=str(account)[:64] if account else None,
        user_id=user_id,
        user_email=user_email,
        owner_id=owner_id,
        owner_email=owner_email,
    )


def fetch_store_info(store_hash: str, token: str) -> dict[str, Any]:
    """Best effort GET /v2/store (name, numeric id, weight unit); {} on any failure."""
    base = current_app.config["BIGCOMMERCE_API_URL"].rstrip("/")
    try:
        resp = requests.get(
            f"{base}/stores/{store_hash}/v2/store",
            headers={"X-Auth-Token": token, "Accept": "application/json"},
            timeout=HTTP_TIMEOUT,
            allow_redirects=False,
        )
        data = resp.json() if resp.status_code == 200 else {}
    except (requests.RequestException, ValueError):
        log.info("store information unavailable for %s", store_hash)
        return {}
    return data if isinstance(data, dict) else {}


def _merchant_row(store_hash: str) -> tuple[Merchant, bool]:
    """The merchant for ``store_hash``, created if new; a racing insert is caught and reused."""
    merchant = merchant_by_hash(store_hash)
    if merchant is not None:
        return merchant, False
    merchant = Merchant(store_hash=store_hash, state=MerchantState.INSTALLED.value)
    db.session.add(merchant)
    try:
        db.session.commit()
    except IntegrityError:
        # A concurrent submit created it first: use that row.
        db.session.rollback()
        merchant = merchant_by_hash(store_hash)
        if merchant is None:
            raise
        return merchant, False
    return merchant, True


def apply_grant(grant: Grant, info: dict[str, Any]) -> tuple[Merchant, str]:
    """Create or update the merchant from a grant; returns it and the notification kind."""
    merchant, created = _merchant_row(grant.store_hash)
    previous = merchant.state
    if created:
        kind = "install"
    elif previous == MerchantState.UNINSTALLED.value:
        kind = "reinstall"
    else:
        kind = "reauth"
    merchant.access_token = grant.access_token
    merchant.scopes, merchant.account_uuid = grant.scopes, grant.account_uuid
    merchant.owner_email = grant.owner_email or merchant.owner_email
    merchant.owner_bc_id = grant.owner_id or merchant.owner_bc_id
    merchant.installer_email = grant.user_email or merchant.installer_email
    if kind in {"install", "reinstall"}:
        merchant.state, merchant.installed_at = MerchantState.INSTALLED.value, utcnow()
        merchant.uninstalled_at = None
    elif previous == MerchantState.NEEDS_REAUTH.value:
        lifecycle.restore_after_reauth(merchant)
    if info.get("name"):
        merchant.store_name = str(info["name"])[:255]
    if info.get("store_id") is not None:
        merchant.bc_store_id = str(info["store_id"])[:32]
    if info.get("weight_units"):
        merchant.weight_unit = str(info["weight_units"])[:16]
    msf = (info.get("features") or {}).get("multi_storefront_enabled")
    if isinstance(msf, bool):
        merchant.bc_multi_storefront = msf
    if grant.user_id is not None:
        upsert_user(merchant, grant.user_id, grant.user_email, grant.owner_id, revive=True)
    audit(
        f"merchant.{kind}",
        actor_type="bigcommerce",
        actor=grant.user_email,
        merchant=merchant,
        previous_state=previous,
        state=merchant.state,
        scopes=grant.scopes,
    )
    name = merchant.store_name or merchant.store_hash
    lifecycle.add_notification(merchant, kind, _notification_text(kind, name, grant))
    db.session.commit()
    return merchant, kind


def _notification_text(kind: str, name: str, grant: Grant) -> str:
    who = grant.user_email or "a store user"
    return {
        "install": f"{name} installed the app ({who}). Link it to its Bindo store and activate it.",
        "reinstall": (
            f"{name} installed the app again ({who}). Check the Bindo link (its token and "
            "webhook secret are deleted after an uninstall) and activate."
        ),
        "reauth": f"{name} re-authorised the app ({who}); its token was renewed.",
    }[kind]


@bp.get("/auth")
def auth():
    try:
        grant = obtain_grant(request.args.to_dict())
    except InstallFailed as exc:
        return _page(exc.status, "Installation failed", exc.message)
    info = fetch_store_info(grant.store_hash, grant.access_token)
    merchant, _kind = apply_grant(grant, info)
    start_app_session(merchant, grant.user_id, grant.user_email)
    return redirect(url_for("merchant.index"), code=303)


# -- signed_payload_jwt callbacks --------------------------------------------------------------


def upsert_user(
    merchant: Merchant,
    user_id: int,
    email: str | None,
    owner_id: int | None,
    *,
    revive: bool = False,
) -> MerchantUser:
    """Record the acting BigCommerce user; ``revive`` re-admits a removed one (an install)."""
    user = db.session.scalar(
        select(MerchantUser).where(
            MerchantUser.merchant_id == merchant.id, MerchantUser.bc_user_id == user_id
        )
    )
    if user is None:
        user = MerchantUser(merchant_id=merchant.id, bc_user_id=user_id)
        db.session.add(user)
    user.email = email or user.email
    user.is_owner = owner_id is not None and owner_id == user_id
    if revive:
        user.removed_at = None
    return user


def start_app_session(merchant: Merchant, user_id: int | None, email: str | None) -> None:
    """A short session bound to one store (its own iframe cookie, see portal/security.py)."""
    session.clear()
    session["bc_store_hash"] = merchant.store_hash
    session["bc_user_id"] = user_id
    session["bc_user_email"] = email
    expires = utcnow() + timedelta(seconds=APP_SESSION_SECONDS)
    session["bc_expires"] = int(expires.timestamp())


def installed_merchant(store_hash: str) -> Merchant:
    merchant = merchant_by_hash(store_hash)
    if merchant is None or merchant.state == MerchantState.UNINSTALLED.value:
        raise JwtRejected("store not installed", status=403)
    if merchant.access_token_enc is None:
        raise JwtRejected("store has no token", status=403)
    return merchant


def _token() -> str:
    return request.args.get("signed_payload_jwt", "")


def _refused(exc: JwtRejected):
    # The reason goes to the log (never the token); the answer carries no detail.
    log.info("callback %s refused: %s", request.path, exc.reason)
    title = "Not allowed" if exc.status == 403 else "Not authorised"
    return _page(exc.status, title, "Please open the app from the BigCommerce control panel.")


@bp.get("/load")
def load():
    try:
        claims = verify(_token())
        merchant = installed_merchant(claims.store_hash)
        if claims.user_id is None:
            raise JwtRejected("no user in token")
        user = _known_user(merchant, claims)
    except JwtRejected as exc:
        return _refused(exc)
    db.session.commit()
    start_app_session(merchant, user.bc_user_id, user.email)
    return redirect(url_for("merchant.index"), code=303)


def _known_user(merchant: Merchant, claims: CallbackClaims) -> MerchantUser:
    user = upsert_user(merchant, claims.user_id or 0, claims.user_email, claims.owner_id)
    if user.removed_at is not None:
        db.session.rollback()
        raise JwtRejected("user was removed", status=403)
    return user


@bp.get("/uninstall")
def uninstall():
    try:
        claims = verify(_token())
        merchant = merchant_by_hash(claims.store_hash)
        if merchant is None:
            raise JwtRejected("unknown store", status=403)
    except JwtRejected as exc:
        return _refused(exc)
    changed = mark_uninstalled(merchant, claims.user_email)
    return jsonify({"ok": True, "changed": changed})


def mark_uninstalled(merchant: Merchant, actor: str | None) -> bool:
    """Uninstall once: stop sync, crypto-shred the token and hook secret, keep the history."""
    if merchant.state == MerchantState.UNINSTALLED.value and merchant.access_token_enc is None:
        return False
    previous = merchant.state
    merchant.state = MerchantState.UNINSTALLED.value
    merchant.uninstalled_at = utcnow()
    merchant.access_token = None  # the only copy: without it nothing can call the store
    # BigCommerce deletes the store's hooks on uninstall; an activation after a reinstall
    # makes a new secret. The Bindo token and webhook secret go once the job below has
    # removed our Bindo subscription with them (worker/lifecycle.py unsubscribe_bindo).
    merchant.hook_secret = None
    if not merchant.bindo_credentials:
        merchant.bindo_webhook_secret = None  # no job will run: nothing needs it
    audit(
        "merchant.uninstall",
        actor_type="bigcommerce",
        actor=actor,
        merchant=merchant,
        previous_state=previous,
    )
    name = merchant.store_name or merchant.store_hash
    lifecycle.add_notification(
        merchant, "uninstall", f"{name} uninstalled the app. Sync is stopped; history is kept."
    )
    db.session.commit()
    lifecycle.request_bindo_unsubscribe(merchant)
    return True


@bp.get("/remove_user")
def remove_user():
    try:
        claims = verify(_token())
        merchant = merchant_by_hash(claims.store_hash)
        if merchant is None:
            raise JwtRejected("unknown store", status=403)
        if claims.user_id is None:
            raise JwtRejected("no user in token")
    except JwtRejected as exc:
        return _refused(exc)
    user = upsert_user(merchant, claims.user_id, claims.user_email, claims.owner_id)
    if user.removed_at is None:
        user.removed_at = utcnow()
        audit(
            "merchant.user_removed",
            actor_type="bigcommerce",
            merchant=merchant,
            bc_user_id=claims.user_id,
        )
    db.session.commit()
    return jsonify({"ok": True})


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)
