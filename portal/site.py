"""The portal's root: / goes to the staff admin, and the favicon every browser asks for."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, send_from_directory, url_for

bp = Blueprint("site", __name__)


@bp.get("/")
def root():
    # Merchants arrive through /bigcommerce/load into /app; a person typing the bare address
    # is staff (or about to sign in as staff).
    return redirect(url_for("admin.index"))


@bp.get("/favicon.ico")
def favicon():
    return send_from_directory(
        current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon", max_age=86400
    )
