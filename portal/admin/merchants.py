"""Merchants in the staff admin: the list, and a manage page to link, check, activate, resync
and dry-run, with the merchant's settings, webhook health, recent runs and history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import func, select
from wtforms import IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal import lifecycle
from portal.admin.base import SecureModelView
from portal.admin.locations import LocationsMixin
from portal.extensions import db
from portal.models import AuditLog, Merchant, Role, StaffUser, SyncRun, WebhookEvent, audit, utcnow
from portal.pausing import waiting_orders
from portal.queue import LOW, enqueue, make_job_id

OPERATIONS = ("check", "activate", "pause", "resume", "resync", "dry_run")
DRY_RUN_JOB = "worker.jobs.catalog.dry_run"
WEBHOOK_SOURCES = ("bigcommerce", "bindo")
HISTORY_ROWS = 50
RECENT_RUNS = 10
FAILED_EVENTS = 10
# Shown on the manage page; every other column is either shown elsewhere or a secret.
SETTING_LABELS = (
    ("default_category_id", "Default BigCommerce category id"),
    ("content_managed_by", "Images and description managed in"),
    ("allow_out_of_stock_orders", "Allow orders at or below 0 stock"),
    ("safety_buffer", "Stock safety buffer"),
    ("create_missing_categories", "Create missing categories"),
    ("location_mode", "Location mode"),
    ("bc_location_id", "BigCommerce location id"),
    ("bc_channel_ids", "Storefront channels new products are assigned to"),
    ("weight_unit", "Store weight unit"),
)


class BindoLinkForm(FlaskForm):
    bindo_store_id = StringField("Bindo store id", validators=[DataRequired(), Length(max=64)])
    location_id = IntegerField(
        "Bindo location sold online (id)", validators=[DataRequired(), NumberRange(min=1)]
    )
    # Write-only: never filled from the stored value; blank keeps what is stored.
    bindo_token = PasswordField("Bindo API token", validators=[Optional(), Length(max=512)])
    webhook_secret = PasswordField(
        "Bindo webhook signing secret", validators=[Optional(), Length(max=512)]
    )


class OperationForm(FlaskForm):
    """An empty form: just the CSRF token of a POST button."""


def _manage_link(view, context, model, name) -> Markup:
    url = url_for("merchants.manage", merchant_id=model.id)
    return Markup('<a href="{}">{}</a>').format(url, model.store_hash)


@dataclass
class SourceHealth:
    """Webhook deliveries of one source for one merchant."""

    source: str
    last_received_at: Any = None
    counts_24h: dict[str, int] = field(default_factory=dict)
    failed: list[WebhookEvent] = field(default_factory=list)


def webhook_health(merchant: Merchant) -> list[SourceHealth]:
    """Per source: the last event received, counts by state over 24 h, the latest failures."""
    since = utcnow() - timedelta(hours=24)
    health = []
    for source in WEBHOOK_SOURCES:
        mine = (WebhookEvent.merchant_id == merchant.id, WebhookEvent.source == source)
        counts = db.session.execute(
            select(WebhookEvent.state, func.count(WebhookEvent.id))
            .where(*mine, WebhookEvent.received_at >= since)
            .group_by(WebhookEvent.state)
        ).all()
        failed = db.session.scalars(
            select(WebhookEvent)
            .where(*mine, WebhookEvent.state == "failed")
            .order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc())
            .limit(FAILED_EVENTS)
        ).all()
        health.append(
            SourceHealth(
                source=source,
                last_received_at=db.session.scalar(
                    select(func.max(WebhookEvent.received_at)).where(*mine)
                ),
                counts_24h={state: n for state, n in sorted(counts)},
                failed=list(failed),
            )
        )
    return health


def recent_runs(merchant: Merchant) -> list[SyncRun]:
    return list(
        db.session.scalars(
            select(SyncRun)
            .where(SyncRun.merchant_id == merchant.id)
            .order_by(SyncRun.id.desc())
            .limit(RECENT_RUNS)
        )
    )


def merchant_history(merchant: Merchant) -> list[AuditLog]:
    """The last 50 audit rows of this merchant, newest first."""
    return list(
        db.session.scalars(
            select(AuditLog)
            .where(AuditLog.merchant_id == merchant.id)
            .order_by(AuditLog.at.desc(), AuditLog.id.desc())
            .limit(HISTORY_ROWS)
        )
    )


def connection_hooks(merchant: Merchant) -> list[dict[str, Any]]:
    """BigCommerce hooks as the last connection check recorded them (if it did)."""
    check = merchant.last_connection_check or {}
    hooks = check.get("hooks") if isinstance(check, dict) else None
    return [h for h in hooks if isinstance(h, dict)] if isinstance(hooks, list) else []


def request_dry_run(merchant: Merchant, staff: StaffUser) -> SyncRun:
    """A dry-run SyncRun (committed with its audit row first), then the job on the low queue."""
    run = SyncRun(merchant_id=merchant.id, kind="dry_run", requested_by_id=staff.id)
    db.session.add(run)
    db.session.flush()
    audit(
        "sync.dry_run_requested",
        actor_type="staff",
        actor=staff.email,
        merchant=merchant,
        run_id=run.id,
    )
    db.session.commit()
    enqueue(
        DRY_RUN_JOB,
        run.id,
        queue=LOW,
        job_id=make_job_id("dry_run", merchant.id, run.id),
        merchant_id=merchant.id,
    )
    return run


def request_full_resync(merchant: Merchant, staff: StaffUser) -> SyncRun:
    """An audited full sync started by staff."""
    audit("sync.full_requested", actor_type="staff", actor=staff.email, merchant=merchant)
    return lifecycle.start_sync(merchant, "full", requested_by=staff)


class MerchantView(LocationsMixin, SecureModelView):
    write_role = Role.SUPPORT
    column_list = (
        "store_hash",
        "store_name",
        "state",
        "owner_email",
        "bindo_store_id",
        "installed_at",
        "activated_at",
    )
    column_searchable_list = ("store_hash", "store_name", "owner_email", "bindo_store_id")
    column_filters = ("state", "store_hash", "store_name", "bindo_store_id", "content_managed_by")
    column_labels = {"bindo_store_id": "Bindo store id", "store_name": "Name"}
    column_default_sort = ("installed_at", True)
    column_formatters = {"store_hash": _manage_link}

    def _merchant(self, merchant_id: int) -> Merchant:
        merchant = db.session.get(Merchant, merchant_id)
        if merchant is None:
            abort(404)
        return merchant

    def _require_write(self) -> None:
        if not self.can_write():
            abort(403)

    @expose("/<int:merchant_id>/manage", methods=("GET",))
    def manage(self, merchant_id: int) -> Any:
        merchant = self._merchant(merchant_id)
        form = BindoLinkForm(
            bindo_store_id=merchant.bindo_store_id,
            location_id=(merchant.bindo_location_ids or [None])[0],
        )
        return self._render_manage(merchant, form)

    def _render_manage(self, merchant: Merchant, form: BindoLinkForm) -> Any:
        return self.render(
            "admin/merchant_manage.html",
            merchant=merchant,
            form=form,
            op_form=OperationForm(),
            can_write=self.can_write(),
            blocker=lifecycle.activation_blocker(merchant),
            history=merchant_history(merchant),
            settings=[(label, getattr(merchant, key)) for key, label in SETTING_LABELS],
            webhooks=webhook_health(merchant),
            hooks=connection_hooks(merchant),
            runs=recent_runs(merchant),
            waiting=waiting_orders(merchant),
        )

    @expose("/<int:merchant_id>/link", methods=("POST",))
    def link(self, merchant_id: int) -> Any:
        self._require_write()
        merchant = self._merchant(merchant_id)
        form = BindoLinkForm()
        if not form.validate_on_submit():
            return self._render_manage(merchant, form), 400
        lifecycle.link_bindo(
            merchant,
            current_user,
            store_id=form.bindo_store_id.data.strip(),
            location_id=int(form.location_id.data),
            token=(form.bindo_token.data or "").strip() or None,
            webhook_secret=(form.webhook_secret.data or "").strip() or None,
        )
        flash("Bindo link saved.")
        return redirect(url_for(".manage", merchant_id=merchant.id))

    @expose("/<int:merchant_id>/<operation>", methods=("POST",))
    def operate(self, merchant_id: int, operation: str) -> Any:
        self._require_write()
        if operation not in OPERATIONS:
            abort(404)
        merchant = self._merchant(merchant_id)
        if not OperationForm().validate_on_submit():
            abort(400)
        try:
            flash(self._run(merchant, operation))
        except lifecycle.LifecycleError as exc:
            flash(str(exc), "error")
        return redirect(url_for(".manage", merchant_id=merchant.id))

    def _run(self, merchant: Merchant, operation: str) -> str:
        if operation == "check":
            lifecycle.request_connection_check(merchant, current_user)
            return "Connection check queued; reload in a moment to see the result."
        if operation == "activate":
            blocker = lifecycle.activation_blocker(merchant)
            if blocker:
                raise lifecycle.LifecycleError(blocker)
            lifecycle.request_activation(merchant, current_user)
            return "Activation queued: webhooks are registered, then the first sync starts."
        if operation == "pause":
            reason = (request.form.get("reason") or "").strip()
            if not reason:
                raise lifecycle.LifecycleError(
                    "Give a reason to pause: the merchant sees it on the app page."
                )
            lifecycle.pause(merchant, current_user, reason=reason)
            return "Paused: nothing syncs until you resume; the merchant sees your reason."
        if operation == "resync":
            self._require_syncing(merchant)
            run = request_full_resync(merchant, current_user)
            return f"Full resync queued as run {run.id}."
        if operation == "dry_run":
            self._require_previewable(merchant)
            run = request_dry_run(merchant, current_user)
            return f"Dry run queued as run {run.id}: it lists what a full sync would do."
        waiting = len(waiting_orders(merchant))
        lifecycle.resume(merchant, current_user)
        imported = f" {waiting} waiting order(s) are being imported now;" if waiting else ""
        return f"Resumed:{imported} a full sync was started to catch up."

    @staticmethod
    def _require_previewable(merchant: Merchant) -> None:
        """A dry run only reads: it needs the BigCommerce token and the Bindo link, and works
        before activation (the point of previewing) or while paused."""
        previewable = merchant.state in {"installed", "active", "paused"}
        if not (previewable and merchant.access_token_enc and merchant.bindo_linked):
            raise lifecycle.LifecycleError(
                "A dry run needs an installed store with a complete Bindo link "
                f"(this one is {merchant.state})."
            )

    @staticmethod
    def _require_syncing(merchant: Merchant) -> None:
        """Both sync jobs (the dry run too, which only reads) run for an active merchant only."""
        if not merchant.syncing:
            raise lifecycle.LifecycleError(
                f"Only an active merchant can be synced (it is {merchant.state})."
            )
