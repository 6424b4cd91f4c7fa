"""The merchant's app page under /app, shown inside the BigCommerce control-panel iframe.

Access needs the short app session started by /bigcommerce/auth or /load; every query is
filtered by that session's store, so one store never sees another's rows (404 instead).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
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
    CategoryCache,
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
from portal.pausing import waiting_orders
from portal.queue import DEFAULT, enqueue, make_job_id

log = logging.getLogger(__name__)
bp = Blueprint("merchant", __name__, url_prefix="/app")
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


# -- categories (from the stored list) -------------------------------------------------------

CATEGORIES_JOB = "worker.jobs.store_lists.refresh_categories"
READABLE_STATES = frozenset(
    {MerchantState.INSTALLED.value, MerchantState.ACTIVE.value, MerchantState.PAUSED.value}
)
# The list is read again (by a worker, through the store's shared pacing) when older than this.
CATEGORY_LIST_MAX_AGE = timedelta(hours=1)


def stored_categories(merchant: Merchant) -> list[tuple[int, str]]:
    """The store's categories as the last refresh (or the catalog sync) stored them, by label.

    Never a live call: the page must render during a resync, when the store's request budget
    belongs to the sync (a live read here once got 429 and an empty dropdown).
    """
    rows = db.session.execute(
        select(CategoryCache.bc_category_id, CategoryCache.label, CategoryCache.path_key).where(
            CategoryCache.merchant_id == merchant.id
        )
    ).all()
    labelled: dict[int, str] = {}
    for cid, label, key in rows:
        text = label or key.replace(" > ", " / ")
        if int(cid) not in labelled or label:
            labelled[int(cid)] = text
    return sorted(labelled.items(), key=lambda item: item[1].lower())


def request_category_refresh(merchant: Merchant) -> bool:
    """Queue a refresh of the stored list when it is missing or old; True when queued."""
    refreshed = merchant.categories_refreshed_at
    if refreshed is not None and utcnow() - refreshed < CATEGORY_LIST_MAX_AGE:
        return False
    if merchant.access_token_enc is None or merchant.state not in READABLE_STATES:
        return False
    try:
        enqueue(
            CATEGORIES_JOB,
            merchant.id,
            queue=DEFAULT,  # someone is waiting for the list: not behind the syncs on low
            job_id=make_job_id("refresh_categories", merchant.id),
            merchant_id=merchant.id,
        )
    except Exception:  # noqa: BLE001 - the page renders without a fresh list
        db.session.rollback()
        log.warning("could not queue the category refresh of %s", merchant.store_hash)
        return False
    return True


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
    """The dropdown's choices, and whether a stored list exists yet."""
    stored = stored_categories(merchant)
    choices: list[tuple[int, str]] = [(NO_CATEGORY, "— none —"), *stored]
    current = merchant.default_category_id
    if current and all(cid != current for cid, _ in stored):
        # Not in the stored list (deleted, or not read yet): keep it selectable so other
        # settings can still be saved.
        choices.append((current, f"Category {current} (not in the store's list)"))
    return choices, bool(stored)


def apply_settings(
    merchant: Merchant, form: SettingsForm, actor: str | None, actor_type: str = "merchant"
) -> dict[str, Any]:
    """Write changed settings with an audit row (by the merchant, or staff from the admin);
    returns the changes (old, new)."""
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
            actor_type=actor_type,
            actor=actor,
            merchant=merchant,
            changes=changes,
        )
    db.session.commit()
    return changes


# -- pages ---------------------------------------------------------------------------------------


FAILING_SHOWN = 50
ORDERS_SHOWN = 20
# The connection state in the merchant's words (they never see our internal state names),
# with the badge tone of BigDesign's status badges.
STATE_WORDS = {
    MerchantState.INSTALLED.value: "Installed: waiting for Bindo to activate the integration.",
    MerchantState.ACTIVE.value: "Connected: products, stock and orders are syncing.",
    MerchantState.PAUSED.value: "Paused by Bindo: nothing is syncing until it resumes.",
    MerchantState.NEEDS_REAUTH.value: (
        "Disconnected: BigCommerce no longer accepts the app's access. "
        "Open or reinstall the app from the BigCommerce control panel."
    ),
}
STATE_BADGES = {
    MerchantState.INSTALLED.value: ("Waiting for activation", "info"),
    MerchantState.ACTIVE.value: ("Connected", "success"),
    MerchantState.PAUSED.value: ("Paused", "warning"),
    MerchantState.NEEDS_REAUTH.value: ("Disconnected", "danger"),
}
RUN_KINDS = {
    "initial": "First sync",
    "full": "Full sync",
    "reconcile": "Check for changes",
    "retry": "Retry",
}


def connection_words(merchant: Merchant) -> str:
    return STATE_WORDS.get(merchant.state, merchant.state)


def advice(product: ProductBinding) -> str:
    """What the merchant can do about a failing product, without staff-only steps."""
    if product.error_code == "bc_name_conflict":
        name = product.error_value or product.name
        return (
            f"BigCommerce already has another product named '{name}'. "
            "Rename the product in Bindo, or, if it is the same product, ask Bindo support to "
            "link the two."
        )
    if product.error_retryable:
        return "BigCommerce or Bindo was busy; it is retried automatically."
    if product.error_code == "internal" or not product.error_message:
        return "Unexpected error: Bindo support has been told."
    message = product.error_message
    prefix = f"Bindo product {product.bindo_product_id}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


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


def _running_run(merchant: Merchant) -> SyncRun | None:
    return db.session.scalar(
        select(SyncRun)
        .where(
            SyncRun.merchant_id == merchant.id,
            SyncRun.finished_at.is_(None),
            SyncRun.kind != "dry_run",
            SyncRun.state.in_(("queued", "running", "started")),
        )
        .order_by(SyncRun.id.desc())
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
    """The store's own read-only status; every query is filtered by this merchant's id.

    The figures are the products' current states; "Last sync" only says when the newest sync
    finished (its own per-run counts go stale as soon as a webhook changes one product).
    """
    counts = _sync_counts(merchant)
    orders = db.session.scalars(
        select(ImportedOrder)
        .where(ImportedOrder.merchant_id == merchant.id)
        .order_by(ImportedOrder.id.desc())
        .limit(ORDERS_SHOWN)
    ).all()
    last_synced_at = db.session.scalar(
        select(func.max(ProductBinding.last_synced_at)).where(
            ProductBinding.merchant_id == merchant.id
        )
    )
    return {
        "synced": counts.get(SyncState.SYNCED.value, 0),
        "hidden": counts.get(SyncState.HIDDEN.value, 0),
        "failing": counts.get(SyncState.FAILED.value, 0),
        "pending": counts.get(SyncState.PENDING.value, 0),
        "total": sum(counts.values()),
        "variants": _variant_count(merchant),
        "last_finished": _last_finished_run(merchant),
        "running": _running_run(merchant),
        "last_product_synced_at": last_synced_at,
        "failing_products": _failing_products(merchant),
        "failing_shown": FAILING_SHOWN,
        "orders": orders,
        "waiting": waiting_orders(merchant),
    }


def ago(moment: Any) -> str:
    """ "3 min ago" style age of a UTC datetime."""
    if moment is None:
        return "never"
    seconds = int((utcnow() - moment).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if unit == 'day' and n != 1 else ''} ago"
    return "just now"


@bp.app_template_filter("ago")
def _ago_filter(moment: Any) -> str:
    return ago(moment)


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
    categories_loading = request_category_refresh(merchant) and not categories_ok
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
        categories_loading=categories_loading,
        activated=activated,
        connection=connection_words(merchant),
        badge=STATE_BADGES.get(merchant.state, (merchant.state, "")),
        run_kinds=RUN_KINDS,
        advice=advice,
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
