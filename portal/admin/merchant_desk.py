"""The support-desk parts of the merchant manage page: the staff settings form, the
reconcile button and the link form's location choices.

Kept apart from portal/admin/merchants.py (list, link, lifecycle buttons) so each stays small.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, url_for
from flask_admin import expose
from flask_login import current_user

from portal.admin.display import category_names
from portal.lifecycle import sync_after_settings_change
from portal.merchant import NO_CATEGORY, SettingsForm, apply_settings
from portal.models import Merchant, MerchantState, audit, utcnow
from portal.queue import LOW, enqueue, make_job_id

RECONCILE_JOB = "worker.jobs.catalog.reconcile"


def staff_settings_form(merchant: Merchant, *, posted: bool = False) -> SettingsForm:
    """The merchant's own settings form, its categories read from our category cache (never a
    live call: a sync may be using the store's whole quota)."""
    # Flask-WTF reads the request's form unless told not to (formdata=None).
    extra = {} if posted else {"formdata": None}
    form = SettingsForm(
        **extra,
        obj=merchant,
        default_category_id=merchant.default_category_id or NO_CATEGORY,
    )
    names = category_names(merchant.id)
    if merchant.default_category_id and merchant.default_category_id not in names:
        names[merchant.default_category_id] = f"BC category #{merchant.default_category_id}"
    form.default_category_id.choices = [(NO_CATEGORY, "— none —")] + sorted(
        ((cid, f"{name} (BC #{cid})") for cid, name in names.items()),
        key=lambda item: item[1].lower(),
    )
    return form


def location_choices(merchant: Merchant) -> list[dict[str, Any]]:
    """The Bindo store's locations as the last connection check listed them."""
    check = merchant.last_connection_check or {}
    rows = check.get("bindo_locations") if isinstance(check, dict) else None
    return [r for r in rows if isinstance(r, dict) and "id" in r] if isinstance(rows, list) else []


def request_reconcile(merchant: Merchant, actor: str) -> Any:
    """A catalog reconcile now: Bindo's changes since the watermark, then a drift check of every
    linked product against BigCommerce (repairs an edit made there after a lost webhook)."""
    audit("sync.reconcile_requested", actor_type="staff", actor=actor, merchant=merchant)
    return enqueue(
        RECONCILE_JOB,
        merchant.id,
        queue=LOW,
        job_id=make_job_id("reconcile", merchant.id, "staff", int(utcnow().timestamp())),
        merchant_id=merchant.id,
    )


class MerchantDeskMixin:
    """Mixed into MerchantView: /admin/merchants/<id>/settings and /<id>/reconcile."""

    @expose("/<int:merchant_id>/settings", methods=("POST",))
    def staff_settings(self, merchant_id: int) -> Any:
        self._require_write()  # type: ignore[attr-defined]
        merchant = self._merchant(merchant_id)  # type: ignore[attr-defined]
        form = staff_settings_form(merchant, posted=True)
        if not form.validate_on_submit():
            flash("Settings not saved: " + _errors(form), "error")
            return redirect(url_for(".manage", merchant_id=merchant.id))
        changes = apply_settings(merchant, form, current_user.email, actor_type="staff")
        if changes and merchant.state == MerchantState.ACTIVE.value:
            sync_after_settings_change(merchant, changes)
            flash(f"Settings saved ({', '.join(changes)}); a sync applies them to the catalog.")
        else:
            flash("Settings saved." if changes else "Nothing changed.")
        return redirect(url_for(".manage", merchant_id=merchant.id))

    @expose("/<int:merchant_id>/reconcile", methods=("POST",))
    def reconcile(self, merchant_id: int) -> Any:
        self._require_write()  # type: ignore[attr-defined]
        merchant = self._merchant(merchant_id)  # type: ignore[attr-defined]
        from portal.admin.merchants import OperationForm

        if not OperationForm().validate_on_submit():
            abort(400)
        if not merchant.syncing:
            flash(f"Only an active merchant can be reconciled (it is {merchant.state}).", "error")
            return redirect(url_for(".manage", merchant_id=merchant.id))
        record = request_reconcile(merchant, current_user.email)
        flash("Reconciliation queued: every linked product is compared with BigCommerce.")
        return redirect(url_for(".manage", merchant_id=merchant.id, job=record.job_id))


def _errors(form: SettingsForm) -> str:
    return "; ".join(f"{form[name].label.text}: {', '.join(e)}" for name, e in form.errors.items())
