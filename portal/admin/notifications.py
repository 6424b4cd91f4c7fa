"""Install notifications for staff: newest first, unread count in the menu, mark handled."""

from __future__ import annotations

from flask import flash, url_for
from flask_admin.actions import action
from flask_login import current_user
from markupsafe import Markup, escape

from portal.admin.base import ActionRoleMixin, SecureModelView
from portal.admin.display import when
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


def _manage_link(merchant) -> Markup:
    """The notification's merchant, linked to the manage page where staff act on it."""
    url = url_for("merchants.manage", merchant_id=merchant.id)
    return Markup('<a href="{}">{}</a>').format(url, merchant.store_name or merchant.store_hash)


class InstallNotificationView(ActionRoleMixin, SecureModelView):
    column_list = ("created_at", "merchant", "kind", "message", "handled_at")
    column_default_sort = ("created_at", True)
    column_filters = ("kind",)
    column_labels = {"merchant": "Merchant", "handled_at": "Handled"}
    column_formatters = {
        "merchant": lambda v, c, m, n: _manage_link(m.merchant),
        "created_at": lambda v, c, m, n: when(m.created_at),
        "handled_at": lambda v, c, m, n: when(m.handled_at) if m.handled_at else "not yet",
    }

    @action("mark_handled", "Mark handled")
    def action_mark_handled(self, ids: list[str]) -> None:
        changed = mark_handled([int(i) for i in ids if str(i).isdigit()], current_user)
        flash(f"{changed} notification(s) marked handled.")
