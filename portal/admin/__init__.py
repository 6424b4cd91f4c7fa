"""Flask-Admin for staff, built per app so two test apps never share views."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from portal.admin.base import SecureIndexView
from portal.admin.merchants import MerchantView
from portal.extensions import db
from portal.models import Merchant


def init_admin(app: Flask) -> Admin:
    admin = Admin(
        app,
        name="Bindo × BigCommerce",
        index_view=SecureIndexView(url="/admin", endpoint="admin"),
        theme=Bootstrap4Theme(base_template="admin/portal_base.html"),
    )
    admin.add_view(MerchantView(Merchant, db.session, name="Merchants", endpoint="merchants"))
    app.extensions["portal_admin"] = admin
    return admin
