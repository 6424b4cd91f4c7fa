"""Merchants in the staff admin: the list, and a manage page to link, check, activate, resync
and dry-run, with the merchant's settings, webhook health, recent runs and history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import abort, flash, g, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import func, select
from wtforms import IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal import lifecycle
from portal.admin.base import SecureModelView
from portal.admin.display import label, when
from portal.admin.health import FAILING, LAST_ORDER, LAST_SYNC, LAST_WEBHOOK, health_of
from portal.admin.locations import LocationsMixin
from portal.admin.merchant_desk import (
    MerchantDeskMixin,
    location_choices,
    staff_settings_form,
)
from portal.extensions import db
from portal.models import AuditLog, Merchant, Role, StaffUser, SyncRun, WebhookEvent, audit, utcnow
from portal.pausing import waiting_orders
from portal.progress import running_sync
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
    # Blank keeps the saved location: staff save the store and token, check the connection,
    # then pick the location from the store's list (the select the check fills).
    location_id = IntegerField(
        "Bindo location sold online", validators=[Optional(), NumberRange(min=1)]
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


def _failing(merchant: Merchant) -> Markup | str:
    health = health_of(merchant)
    if not health.failing:
        return "0"
    return Markup(
        '<span class="text-danger font-weight-bold">{}</span> <small>since {}</small>'
    ).format(health.failing, when(health.failing_since))


def _sync_cell(merchant: Merchant) -> Markup | str:
    health = health_of(merchant)
    if health.running:
        url = url_for("runs.details_view", id=health.running_id)
        return Markup('<a href="{}">{}</a>').format(url, health.running["text"])
    return when(health.last_sync)


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


class MerchantView(MerchantDeskMixin, LocationsMixin, SecureModelView):
    write_role = Role.SUPPORT
    column_list = (
        "store_hash",
        "store_name",
        "state",
        "failing",
        "last_sync",
        "last_order",
        "last_webhook",
        "lifecycle_error",
        "bindo_store_id",
        "activated_at",
    )
    column_sortable_list = (
        "store_hash",
        "store_name",
        "state",
        ("failing", FAILING),
        ("last_sync", LAST_SYNC),
        ("last_order", LAST_ORDER),
        ("last_webhook", LAST_WEBHOOK),
        "bindo_store_id",
        "activated_at",
    )
    column_searchable_list = ("store_hash", "store_name", "owner_email", "bindo_store_id")
    column_filters = ("state", "store_hash", "store_name", "bindo_store_id", "content_managed_by")
    column_labels = {
        "bindo_store_id": "Bindo store id",
        "store_name": "Name",
        "failing": "Failing",
        "last_sync": "Last sync",
        "last_order": "Last order",
        "last_webhook": "Last webhook",
        "lifecycle_error": "Activation error",
        "activated_at": "Activated",
    }
    column_default_sort = ("installed_at", True)
    column_formatters = {
        "store_hash": _manage_link,
        "state": lambda v, c, m, n: label(m.state),
        "failing": lambda v, c, m, n: _failing(m),
        "last_sync": lambda v, c, m, n: _sync_cell(m),
        "last_order": lambda v, c, m, n: when(health_of(m).last_order),
        "last_webhook": lambda v, c, m, n: when(health_of(m).last_webhook),
        "activated_at": lambda v, c, m, n: when(m.activated_at),
    }

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
            settings=[(key, title, getattr(merchant, key)) for key, title in SETTING_LABELS],
            webhooks=webhook_health(merchant),
            hooks=connection_hooks(merchant),
            runs=recent_runs(merchant),
            settings_form=staff_settings_form(merchant),
            locations=location_choices(merchant),
            running=running_sync(merchant),
            check_passed=lifecycle.check_passed(merchant),
            previewable=self._previewable(merchant),
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
            location_id=int(form.location_id.data) if form.location_id.data else None,
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
        # The page polls the queued job and shows its outcome (admin/_job_box.html).
        job = g.pop("queued_job", None)
        return redirect(url_for(".manage", merchant_id=merchant.id, job=job))

    def _run(self, merchant: Merchant, operation: str) -> str:
        if operation == "check":
            g.queued_job = lifecycle.request_connection_check(merchant, current_user).job_id
            return "Connection check queued."
        if operation == "activate":
            blocker = lifecycle.activation_blocker(merchant)
            if blocker:
                raise lifecycle.LifecycleError(blocker)
            g.queued_job = lifecycle.request_activation(merchant, current_user).job_id
            return "Activation queued: it checks the connection first."
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
            g.queued_job = make_job_id("dry_run", merchant.id, run.id)
            return f"Dry run queued as run {run.id}: it lists what a full sync would do."
        waiting = len(waiting_orders(merchant))
        lifecycle.resume(merchant, current_user)
        imported = f" {waiting} waiting order(s) are being imported now;" if waiting else ""
        return f"Resumed:{imported} a full sync was started to catch up."

    @staticmethod
    def _previewable(merchant: Merchant) -> bool:
        """The dry-run rule (README, docs/admin.md, the button and this endpoint): it only
        reads, so it needs the BigCommerce token and a complete Bindo link, and works before
        activation (the point of previewing), while active and while paused."""
        return bool(
            merchant.state in {"installed", "active", "paused"}
            and merchant.access_token_enc
            and merchant.bindo_linked
        )

    @classmethod
    def _require_previewable(cls, merchant: Merchant) -> None:
        if not cls._previewable(merchant):
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
