"""Merchants in the staff admin: the list, and a manage page to link, check and activate."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, url_for
from flask_admin import expose
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal import lifecycle
from portal.admin.base import SecureModelView
from portal.extensions import db
from portal.models import AuditLog, Merchant, Role

OPERATIONS = ("check", "activate", "pause", "resume")


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


class MerchantView(SecureModelView):
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
    column_filters = ("state", "content_managed_by")
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
        history = (
            db.session.query(AuditLog)
            .filter(AuditLog.merchant_id == merchant.id)
            .order_by(AuditLog.at.desc(), AuditLog.id.desc())
            .limit(25)
            .all()
        )
        return self.render(
            "admin/merchant_manage.html",
            merchant=merchant,
            form=form,
            op_form=OperationForm(),
            can_write=self.can_write(),
            blocker=lifecycle.activation_blocker(merchant),
            history=history,
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
            lifecycle.pause(merchant, current_user)
            return "Paused: nothing syncs until you resume."
        lifecycle.resume(merchant, current_user)
        return "Resumed: a full sync was started to catch up."
