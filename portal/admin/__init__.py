"""Flask-Admin for staff, built per app so two test apps never share views."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from portal.admin.alerts import AlertView
from portal.admin.audit import AuditLogView
from portal.admin.dashboard import DashboardView
from portal.admin.display import init_display
from portal.admin.jobs import JobStatusView
from portal.admin.merchants import MerchantView
from portal.admin.notifications import InstallNotificationView, UnreadLabel
from portal.admin.orders import orders_view
from portal.admin.queues import QueuesView
from portal.admin.runs import SyncRunView
from portal.admin.sync_errors import SyncErrorView
from portal.extensions import db
from portal.models import (
    Alert,
    AuditLog,
    InstallNotification,
    Merchant,
    ProductBinding,
    SyncRun,
)
from portal.security import allow_admin_handlers, csp_nonce


def init_admin(app: Flask) -> Admin:
    admin = Admin(
        app,
        name="Bindo × BigCommerce",
        index_view=DashboardView(name="Dashboard", url="/admin", endpoint="admin"),
        theme=Bootstrap4Theme(base_template="admin/portal_base.html"),
        csp_nonce_generator=csp_nonce,  # its inline scripts carry the response's nonce
    )
    admin.add_view(MerchantView(Merchant, db.session, name="Merchants", endpoint="merchants"))
    admin.add_view(
        InstallNotificationView(
            InstallNotification,
            db.session,
            name=UnreadLabel("Installs"),
            endpoint="notifications",
        )
    )
    admin.add_view(orders_view())
    _add_staff_views(admin)
    admin.add_view(QueuesView(name="Queues", endpoint="queues", url="/admin/queues"))
    init_display(app)
    actions = {name for view in admin._views for name, _ in getattr(view, "_actions", None) or []}
    allow_admin_handlers(app, sorted(actions))
    app.extensions["portal_admin"] = admin
    return admin


def _add_staff_views(admin: Admin) -> None:
    """Sync errors, runs, alerts and the audit log (the dashboard is the index view)."""
    admin.add_view(
        SyncErrorView(
            ProductBinding,
            db.session,
            name="Sync errors",
            endpoint="sync_errors",
            url="/admin/sync-errors",
        )
    )
    admin.add_view(
        SyncRunView(SyncRun, db.session, name="Runs", endpoint="runs", url="/admin/runs")
    )
    admin.add_view(AlertView(Alert, db.session, name="Alerts", endpoint="alerts"))
    admin.add_view(
        AuditLogView(AuditLog, db.session, name="Audit log", endpoint="audit", url="/admin/audit")
    )
    admin.add_view(JobStatusView(name="Jobs", endpoint="jobs", url="/admin/jobs"))
