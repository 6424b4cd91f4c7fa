"""The one secured base for every admin view, the index included."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import (
    BaseSQLAFilter,
    DateTimeBetweenFilter,
    DateTimeGreaterFilter,
    DateTimeSmallerFilter,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import JSON
from sqlalchemy.exc import DataError

from portal.extensions import db
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


# Flask-Admin's built-in write endpoints and the flag that switches each on.
BUILTIN_WRITE_FLAGS = {
    "create_view": "can_create",
    "edit_view": "can_edit",
    "delete_view": "can_delete",
}


class SecureIndexView(SecuredMixin, AdminIndexView):
    pass


class SecureBaseView(SecuredMixin, BaseView):
    pass


MAX_DB_INT = 2**31 - 1
# Far beyond any real list; a larger page number would overflow the query's OFFSET.
MAX_PAGE = 100_000


class CSRFForm(FlaskForm):
    """Flask-Admin forms (edit, delete, bulk actions) carry the app-wide Flask-WTF token.

    Flask-Admin's own SecureForm keeps a separate token that CSRFProtect does not accept.
    """


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> object:
    """Text that a spreadsheet would run as a formula, quoted so it is shown as text."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class SecureModelView(SecuredMixin, ModelView):
    """Read-only by default; writes need ``write_role``; secrets never shown or exported;
    exported cells never start a formula."""

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

    def get_one(self, id):  # noqa: A002 - Flask-Admin's signature
        """A malformed or out-of-range id is a 404, never a database error (PostgreSQL's
        integer columns stop at 2**31 - 1)."""
        if not str(id).isdigit() or int(id) > MAX_DB_INT:
            return None
        return super().get_one(id)

    def get_sortable_columns(self):
        # A JSON column has no ordering in PostgreSQL (?sort=<its index> was a 500).
        return {
            name: column
            for name, column in super().get_sortable_columns().items()
            if not isinstance(getattr(column, "type", None), JSON)
        }

    def get_list(self, page, sort_column, sort_desc, search, filters, *args, **kwargs):
        """Crafted list parameters give a 4xx or an empty list, never a 500: the page number is
        clamped, and a filter value the database cannot take (an integer out of range, a date
        beyond the calendar) lists nothing, with a message."""
        if page is not None:
            page = min(max(page, 0), MAX_PAGE)
        try:
            return super().get_list(page, sort_column, sort_desc, search, filters, *args, **kwargs)
        except (DataError, OverflowError, ValueError):
            db.session.rollback()
            flash("A filter value is out of range; nothing matches it.", "error")
            return 0, []

    def get_export_value(self, model, name):
        # Store names, SKUs and error texts come from merchants and their APIs.
        return csv_safe(super().get_export_value(model, name))

    def can_write(self) -> bool:
        return bool(current_user.is_authenticated and current_user.has_role(self.write_role))

    def _handle_view(self, name, **kwargs):
        # Strict: a write switched off for the view answers 403 to everyone (Flask-Admin would
        # only redirect back), after the login check so anonymous visitors still go to /login.
        refused = super()._handle_view(name, **kwargs)
        if refused is not None:
            return refused
        if self._builtin_write_disabled(name):
            abort(403)
        return None

    def _builtin_write_disabled(self, name: str) -> bool:
        """Whether ``name`` is a Flask-Admin write endpoint switched off for every role."""
        flag = BUILTIN_WRITE_FLAGS.get(name)
        if flag is not None:
            return not getattr(self, flag)
        if name == "ajax_update":
            return not self.column_editable_list
        if name == "action_view":
            offered = [n for n, _ in self._actions or [] if n != "delete" or self.can_delete]
            return not offered
        return False


class ActionRoleMixin:
    """Bulk actions and custom POST endpoints need ``action_role``; below it they answer 403."""

    action_role: Role = Role.SUPPORT

    def can_act(self) -> bool:
        return bool(current_user.is_authenticated and current_user.has_role(self.action_role))

    def require_action_role(self) -> None:
        if not self.can_act():
            abort(403)

    def is_action_allowed(self, name: str) -> bool:
        return self.can_act() and super().is_action_allowed(name)  # type: ignore[misc]

    @expose("/action/", methods=("POST",))
    def action_view(self):
        self.require_action_role()
        return super().action_view()  # type: ignore[misc]


def datetime_filters(column: Any, label: str) -> list[BaseSQLAFilter]:
    """After / before / between filters for a UTCDateTime column (Flask-Admin cannot derive
    them from the TypeDecorator)."""
    return [
        DateTimeGreaterFilter(column, label),
        DateTimeSmallerFilter(column, label),
        DateTimeBetweenFilter(column, label),
    ]
