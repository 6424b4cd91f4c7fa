"""Install notifications for staff: newest first, unread count in the menu, mark handled."""

from __future__ import annotations

from flask import flash
from flask_admin.actions import action
from flask_login import current_user
from markupsafe import escape

from portal.admin.base import ActionRoleMixin, SecureModelView
from portal.lifecycle import mark_handled, unread_notifications


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


class InstallNotificationView(ActionRoleMixin, SecureModelView):
    column_list = ("created_at", "merchant", "kind", "message", "handled_at")
    column_default_sort = ("created_at", True)
    column_filters = ("kind",)
    column_labels = {"merchant": "Merchant", "handled_at": "Handled"}
    column_formatters = {
        "merchant": lambda v, c, m, n: m.merchant.store_name or m.merchant.store_hash,
    }

    @action("mark_handled", "Mark handled")
    def action_mark_handled(self, ids: list[str]) -> None:
        changed = mark_handled([int(i) for i in ids if str(i).isdigit()], current_user)
        flash(f"{changed} notification(s) marked handled.")
