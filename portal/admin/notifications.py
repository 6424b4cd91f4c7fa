"""Install notifications for staff: newest first, unread count in the menu, mark handled."""

from __future__ import annotations

from typing import Any

from flask import abort, flash
from flask_admin import expose
from flask_admin.actions import action
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import escape

from portal.admin.base import SecureModelView
from portal.lifecycle import mark_handled, unread_notifications
from portal.models import Role


class UnreadLabel:
    """A menu label computed on each render, so the unread count is always current."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        try:
            unread = unread_notifications()
        except Exception:  # noqa: BLE001 - a menu label must never break a page
            return self.text
        return f"{self.text} ({unread})" if unread else self.text

    def __html__(self) -> str:
        return str(escape(str(self)))


class InstallNotificationView(SecureModelView):
    # Flask-WTF's form base: its token is the one the app-wide CSRFProtect checks.
    form_base_class = FlaskForm
    write_role = Role.SUPPORT
    column_list = ("created_at", "merchant", "kind", "message", "handled_at")
    column_default_sort = ("created_at", True)
    column_filters = ("kind",)
    column_labels = {"merchant": "Merchant", "handled_at": "Handled"}
    column_formatters = {
        "merchant": lambda v, c, m, n: m.merchant.store_name or m.merchant.store_hash,
    }

    def is_action_allowed(self, name: str) -> bool:
        return self.can_write() and super().is_action_allowed(name)

    @expose("/action/", methods=("POST",))
    def action_view(self) -> Any:
        if not self.can_write():
            abort(403)
        return super().action_view()

    @action("mark_handled", "Mark handled")
    def action_mark_handled(self, ids: list[str]) -> None:
        changed = mark_handled([int(i) for i in ids if str(i).isdigit()], current_user)
        flash(f"{changed} notification(s) marked handled.")
