"""The merchant's app page under /app, shown inside the BigCommerce control-panel iframe.

Access needs the short app session started by /bigcommerce/auth or /load; every query is
filtered by that session's store, so one store never sees another's rows (404 instead).
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, SelectField
from wtforms.validators import InputRequired

from portal.extensions import db
from portal.lifecycle import sync_after_settings_change
from portal.models import (
    ContentOwner,
    ImportedOrder,
    Merchant,
    MerchantState,
    MerchantUser,
    ProductBinding,
    SyncRun,
    SyncState,
    VariantBinding,
    audit,
    merchant_by_hash,
    utcnow,
)

log = logging.getLogger(__name__)
bp = Blueprint("merchant", __name__, url_prefix="/app")
HTTP_TIMEOUT = (3, 8)
MAX_CATEGORY_PAGES = 20
NO_CATEGORY = 0  # the select's "none" value (BigCommerce ids start at 1)


class AppSessionMissing(Exception):
    """No valid app session: the page must be opened from the BigCommerce control panel."""


def current_merchant() -> Merchant:
    """The merchant bound to the app session, or AppSessionMissing."""
    store_hash = session.get("bc_store_hash")
    expires = session.get("bc_expires", 0)
    if not store_hash or not isinstance(expires, int) or expires < utcnow().timestamp():
        raise AppSessionMissing
    merchant = merchant_by_hash(store_hash)
    if merchant is None or merchant.state == MerchantState.UNINSTALLED.value:
        raise AppSessionMissing
    user = db.session.scalar(
        select(MerchantUser).where(
            MerchantUser.merchant_id == merchant.id,
            MerchantUser.bc_user_id == session.get("bc_user_id"),
        )
    )
    if user is not None and user.removed_at is not None:
        raise AppSessionMissing
    return merchant


@bp.errorhandler(AppSessionMissing)
def _no_session(_exc: AppSessionMissing):
    session.clear()
    return render_template(
        "errors/error.html",
        title="Open the app from BigCommerce",
        message="Your session has ended. Please open the app from the BigCommerce control panel.",
    ), 401


# -- categories (read-only, live) --------------------------------------------------------------


def fetch_categories(merchant: Merchant) -> list[tuple[int, str]] | None:
    """The store's categories of channel 1's tree as (id, "Parent / Child"), or None on error.

    A tiny read-only fetch (the portal never imports worker clients): two GETs with short
    timeouts, so the page still renders when BigCommerce is slow.
    """
    base = f"{current_app.config['BIGCOMMERCE_API_URL'].rstrip('/')}/stores/{merchant.store_hash}"
    headers = {"X-Auth-Token": merchant.access_token or "", "Accept": "application/json"}
    try:
        trees = _get_all(f"{base}/v3/catalog/trees", {"channel_id:in": 1}, headers)
        if not trees:
            return []
        tree_id = int(trees[0]["id"])
        rows = _get_all(f"{base}/v3/catalog/trees/categories", {"tree_id:in": tree_id}, headers)
    except (requests.RequestException, ValueError, KeyError, TypeError):
        log.info("categories unavailable for %s", merchant.store_hash)
        return None
    return _labelled(rows)


def _get_all(url: str, params: dict[str, Any], headers: dict[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in range(1, MAX_CATEGORY_PAGES + 1):
        resp = requests.get(
            url,
            params={**params, "page": page, "limit": 250},
            headers=headers,
            timeout=HTTP_TIMEOUT,
            allow_redirects=False,
        )
        if resp.status_code != 200:
            raise ValueError(f"HTTP {resp.status_code}")
        body = resp.json()
        out.extend(body.get("data") or [])
        pagination = (body.get("meta") or {}).get("pagination") or {}
        if page >= int(pagination.get("total_pages") or 1):
            break
    return out


def _labelled(rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    by_id = {int(r["category_id"]): r for r in rows}

    def path(row: dict[str, Any]) -> str:
        names, seen = [str(row.get("name", ""))], {int(row["category_id"])}
        parent = int(row.get("parent_id") or 0)
        while parent in by_id and parent not in seen:
            seen.add(parent)
            names.insert(0, str(by_id[parent].get("name", "")))
            parent = int(by_id[parent].get("parent_id") or 0)
        return " / ".join(names)

    return sorted(((cid, path(r)) for cid, r in by_id.items()), key=lambda item: item[1].lower())


# -- settings form -------------------------------------------------------------------------------


class SettingsForm(FlaskForm):
    default_category_id = SelectField("Default BigCommerce category", coerce=int)
    content_managed_by = SelectField(
        "Images and description are managed in",
        choices=[
            (ContentOwner.BINDO.value, "Bindo"),
            (ContentOwner.BIGCOMMERCE.value, "BigCommerce"),
        ],
        validators=[InputRequired()],
    )
    allow_out_of_stock_orders = BooleanField("Allow orders when stock is at or below 0")


SETTINGS = ("default_category_id", "content_managed_by", "allow_out_of_stock_orders")


def _category_choices(merchant: Merchant) -> tuple[list[tuple[int, str]], bool]:
    fetched = fetch_categories(merchant)
    choices: list[tuple[int, str]] = [(NO_CATEGORY, "— none —")]
    if fetched is None:
        # Offline: keep the current value selectable so other settings can still be saved.
        if merchant.default_category_id:
            choices.append(
                (merchant.default_category_id, f"Category {merchant.default_category_id}")
            )
        return choices, False
    return choices + fetched, True


def apply_settings(merchant: Merchant, form: SettingsForm, actor: str | None) -> dict[str, Any]:
    """Write changed settings with an audit row; returns the changes (old, new)."""
    new = {
        "default_category_id": form.default_category_id.data or None,
        "content_managed_by": form.content_managed_by.data,
        "allow_out_of_stock_orders": bool(form.allow_out_of_stock_orders.data),
    }
    changes = {k: [getattr(merchant, k), v] for k, v in new.items() if getattr(merchant, k) != v}
    for key, (_old, value) in changes.items():
        setattr(merchant, key, value)
    if changes:
        audit(
            "merchant.settings_changed",
            actor_type="merchant",
            actor=actor,
            merchant=merchant,
            changes=changes,
        )
    db.session.commit()
    return changes


# -- pages ---------------------------------------------------------------------------------------


FAILING_SHOWN = 50
ORDERS_SHOWN = 20
# The connection state in the merchant's words (they never see our internal state names).
STATE_WORDS = {
    MerchantState.INSTALLED.value: "Installed: waiting for Bindo to activate the integration.",
    MerchantState.ACTIVE.value: "Connected: products, stock and orders are syncing.",
    MerchantState.PAUSED.value: "Paused by Bindo: nothing is syncing until it resumes.",
    MerchantState.NEEDS_REAUTH.value: (
        "Disconnected: BigCommerce no longer accepts the app's access. "
        "Open or reinstall the app from the BigCommerce control panel."
    ),
}


def connection_words(merchant: Merchant) -> str:
    return STATE_WORDS.get(merchant.state, merchant.state)


def _sync_counts(merchant: Merchant) -> dict[str, int]:
    return dict(
        db.session.execute(
            select(ProductBinding.sync_state, func.count(ProductBinding.id))
            .where(ProductBinding.merchant_id == merchant.id)
            .group_by(ProductBinding.sync_state)
        ).all()
    )


def _variant_count(merchant: Merchant) -> int:
    """Live variants in BigCommerce (products with sizes, colours...): shown next to the
    product counts; removed (unpurchasable) ones are not counted."""
    return int(
        db.session.scalar(
            select(func.count(VariantBinding.id)).where(
                VariantBinding.merchant_id == merchant.id,
                VariantBinding.bc_variant_id.is_not(None),
                VariantBinding.removed.is_(False),
            )
        )
        or 0
    )


def _last_finished_run(merchant: Merchant) -> SyncRun | None:
    """The newest finished catalog run (dry runs change nothing, so they are not a sync)."""
    return db.session.scalar(
        select(SyncRun)
        .where(
            SyncRun.merchant_id == merchant.id,
            SyncRun.finished_at.is_not(None),
            SyncRun.kind != "dry_run",
        )
        .order_by(SyncRun.finished_at.desc(), SyncRun.id.desc())
        .limit(1)
    )


def _failing_products(merchant: Merchant) -> list[ProductBinding]:
    """This store's failing products, most recent failure first, capped at 50."""
    return list(
        db.session.scalars(
            select(ProductBinding)
            .where(
                ProductBinding.merchant_id == merchant.id,
                ProductBinding.sync_state == SyncState.FAILED.value,
            )
            .order_by(ProductBinding.last_error_at.desc(), ProductBinding.id.desc())
            .limit(FAILING_SHOWN)
        )
    )


def _status(merchant: Merchant) -> dict[str, Any]:
    """The store's own read-only status; every query is filtered by this merchant's id."""
    counts = _sync_counts(merchant)
    last_run = db.session.scalar(
        select(SyncRun).where(SyncRun.merchant_id == merchant.id).order_by(SyncRun.id.desc())
    )
    orders = db.session.scalars(
        select(ImportedOrder)
        .where(ImportedOrder.merchant_id == merchant.id)
        .order_by(ImportedOrder.id.desc())
        .limit(ORDERS_SHOWN)
    ).all()
    return {
        "synced": counts.get(SyncState.SYNCED.value, 0),
        "hidden": counts.get(SyncState.HIDDEN.value, 0),
        "failing": counts.get(SyncState.FAILED.value, 0),
        "variants": _variant_count(merchant),
        "last_run": last_run,
        "last_finished": _last_finished_run(merchant),
        "failing_products": _failing_products(merchant),
        "failing_shown": FAILING_SHOWN,
        "orders": orders,
    }


def session_user(merchant: Merchant) -> MerchantUser | None:
    """The BigCommerce user of the app session (None when the session names nobody)."""
    return db.session.scalar(
        select(MerchantUser).where(
            MerchantUser.merchant_id == merchant.id,
            MerchantUser.bc_user_id == session.get("bc_user_id"),
        )
    )


def can_change_settings(merchant: Merchant) -> bool:
    """Only the store owner, or a user the owner allowed, changes settings (docs/admin.md);
    everyone else who opens the app sees them read-only."""
    user = session_user(merchant)
    return user is not None and user.can_change_settings


class PermissionForm(FlaskForm):
    """The owner's allow / stop-allowing button (carries the CSRF token only)."""


@bp.route("", methods=["GET", "POST"])
@bp.route("/", methods=["GET", "POST"])
def index():
    merchant = current_merchant()
    editable = can_change_settings(merchant)
    if request.method == "POST" and not editable:
        abort(403)
    form = SettingsForm(
        obj=merchant, default_category_id=merchant.default_category_id or NO_CATEGORY
    )
    form.default_category_id.choices, categories_ok = _category_choices(merchant)
    if form.validate_on_submit():
        changes = apply_settings(merchant, form, session.get("bc_user_email"))
        if changes and merchant.state == MerchantState.ACTIVE.value:
            sync_after_settings_change(merchant, changes)
            flash("Settings saved. A full sync was started so the changes apply.")
        else:
            flash("Settings saved." if changes else "Nothing changed.")
        return redirect(url_for("merchant.index"), code=303)
    activated = merchant.activated_at is not None
    user = session_user(merchant)
    return render_template(
        "app/index.html",
        merchant=merchant,
        form=form,
        can_edit=editable,
        other_users=_other_users(merchant) if user is not None and user.is_owner else None,
        permission_form=PermissionForm(),
        categories_ok=categories_ok,
        activated=activated,
        connection=connection_words(merchant),
        status=_status(merchant) if activated else None,
    ), (400 if request.method == "POST" else 200)


def _other_users(merchant: Merchant) -> list[MerchantUser]:
    return list(
        db.session.scalars(
            select(MerchantUser)
            .where(
                MerchantUser.merchant_id == merchant.id,
                MerchantUser.is_owner.is_(False),
                MerchantUser.removed_at.is_(None),
            )
            .order_by(MerchantUser.email, MerchantUser.id)
        )
    )


@bp.post("/users/<int:user_id>/settings-permission")
def settings_permission(user_id: int):
    """The owner lets another user of the store change settings, or stops letting them."""
    merchant = current_merchant()
    owner = session_user(merchant)
    if owner is None or not owner.is_owner or owner.removed_at is not None:
        abort(403)
    if not PermissionForm().validate_on_submit():
        abort(400)
    user = db.session.scalar(
        select(MerchantUser).where(
            MerchantUser.id == user_id,
            MerchantUser.merchant_id == merchant.id,
            MerchantUser.is_owner.is_(False),
        )
    )
    if user is None:
        abort(404)
    user.may_change_settings = request.form.get("allow") == "1"
    audit(
        "merchant.settings_permission",
        actor_type="merchant",
        actor=session.get("bc_user_email"),
        merchant=merchant,
        bc_user_id=user.bc_user_id,
        allowed=user.may_change_settings,
    )
    db.session.commit()
    flash(
        f"{user.email or 'The user'} "
        + (
            "may now change settings."
            if user.may_change_settings
            else "can no longer change settings."
        )
    )
    return redirect(url_for("merchant.index"), code=303)


@bp.get("/orders/<int:order_id>")
def order(order_id: int):
    merchant = current_merchant()
    row = db.session.scalar(
        select(ImportedOrder).where(
            ImportedOrder.id == order_id, ImportedOrder.merchant_id == merchant.id
        )
    )
    if row is None:
        abort(404)
    return render_template("app/order.html", merchant=merchant, order=row)


@bp.get("/runs/<int:run_id>")
def run(run_id: int):
    merchant = current_merchant()
    row = db.session.scalar(
        select(SyncRun).where(SyncRun.id == run_id, SyncRun.merchant_id == merchant.id)
    )
    if row is None:
        abort(404)
    return render_template("app/run.html", merchant=merchant, run=row)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
