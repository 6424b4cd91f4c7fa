"""The one secured base for every admin view, the index included."""

from __future__ import annotations

from flask import abort, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user
from flask_wtf import FlaskForm

from portal.models import SECRET_COLUMNS, Role


class SecuredMixin:
    """Anonymous users go to the login page; signed-in staff below ``required_role`` get 403."""

    required_role: Role = Role.VIEWER

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated and current_user.has_role(self.required_role))

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(403)

    def _handle_view(self, name, **kwargs):
        # Flask-Admin calls this before every exposed method, actions and exports included.
        if not self.is_accessible():
            return self.inaccessible_callback(name, **kwargs)
        return None


class SecureIndexView(SecuredMixin, AdminIndexView):
    pass


class SecureBaseView(SecuredMixin, BaseView):
    pass


class CSRFForm(FlaskForm):
    """Flask-Admin forms (edit, delete, bulk actions) carry the app-wide Flask-WTF token.

    Flask-Admin's own SecureForm keeps a separate token that CSRFProtect does not accept.
    """


class SecureModelView(SecuredMixin, ModelView):
    """Read-only by default; writes need ``write_role``; secrets never shown or exported."""

    write_role: Role = Role.ADMIN
    form_base_class = CSRFForm
    can_create = False
    can_edit = False
    can_delete = False
    can_export = False
    can_view_details = True
    page_size = 50
    column_exclude_list = tuple(SECRET_COLUMNS)
    column_details_exclude_list = tuple(SECRET_COLUMNS)
    form_excluded_columns = tuple(SECRET_COLUMNS)
    column_export_exclude_list = tuple(SECRET_COLUMNS)

    def can_write(self) -> bool:
        return bool(current_user.is_authenticated and current_user.has_role(self.write_role))
