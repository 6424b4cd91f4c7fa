"""The merchant's locations page in the staff admin: link several Bindo locations, choose sum
or map mode, map each to a BigCommerce location, set the safety buffer (audited, checked)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from flask_wtf import FlaskForm

from portal import locations
from portal.extensions import db
from portal.models import Merchant


class CSRFOnly(FlaskForm):
    """The page's fields are built from the stores' lists; this form checks the CSRF token."""


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def choice_from_form(form: Any) -> locations.LocationChoice:
    bindo_ids = sorted({i for i in map(_int, form.getlist("bindo_location")) if i is not None})
    mapping = {str(i): v for i in bindo_ids if (v := _int(form.get(f"map_{i}"))) is not None}
    buffer = _int(form.get("safety_buffer") or 0)
    return locations.LocationChoice(
        bindo_ids,
        str(form.get("mode") or ""),
        _int(form.get("bc_location_id")),
        mapping,
        -1 if buffer is None else buffer,
    )


class LocationsMixin:
    """Mixed into MerchantView: /admin/merchants/<id>/locations."""

    def _locations_merchant(self, merchant_id: int) -> Merchant:
        merchant = db.session.get(Merchant, merchant_id)
        if merchant is None:
            abort(404)
        return merchant

    def _render_locations(self, merchant: Merchant, choice, problems, status: int = 200):
        lists = locations.known(merchant)
        return self.render(
            "admin/merchant_locations.html",
            merchant=merchant,
            form=CSRFOnly(),
            lists=lists,
            choice=choice,
            problems=problems,
            saved_problems=locations.check(locations.LocationChoice.of(merchant), lists),
            can_write=self.can_write(),
        ), status

    @expose("/<int:merchant_id>/locations", methods=("GET", "POST"))
    def locations(self, merchant_id: int) -> Any:
        merchant = self._locations_merchant(merchant_id)
        if request.method == "GET":
            return self._render_locations(merchant, locations.LocationChoice.of(merchant), [])
        if not self.can_write():
            abort(403)
        if not CSRFOnly().validate_on_submit():
            abort(400)
        choice = choice_from_form(request.form)
        problems = locations.check(choice, locations.known(merchant))
        if problems:
            return self._render_locations(merchant, choice, problems, 400)
        changes = locations.save(merchant, choice, current_user)
        flash(
            "Locations saved"
            + (": stock is being re-published with the new set-up." if merchant.syncing else ".")
            if changes
            else "Nothing changed."
        )
        return redirect(url_for(".locations", merchant_id=merchant.id))

    @expose("/<int:merchant_id>/locations/refresh", methods=("POST",))
    def refresh_locations(self, merchant_id: int) -> Any:
        if not self.can_write():
            abort(403)
        merchant = self._locations_merchant(merchant_id)
        if not CSRFOnly().validate_on_submit():
            abort(400)
        locations.request_refresh(merchant, current_user)
        flash("Reading both stores' location lists; reload in a moment.")
        return redirect(url_for(".locations", merchant_id=merchant.id))
