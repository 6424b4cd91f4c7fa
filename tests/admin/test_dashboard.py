"""The dashboard (admin index): every figure staff rely on, and a Redis outage shown plainly."""

from __future__ import annotations

import re
from datetime import timedelta

from rq.job import Job
from rq.registry import FailedJobRegistry

from portal.extensions import db
from portal.models import (
    Alert,
    ImportedOrder,
    InstallNotification,
    ProductBinding,
    SyncRun,
    SyncRunItem,
    utcnow,
)
from portal.queue import get_queue
from tests.admin.conftest import add_failed, add_merchant


def page(client) -> str:
    response = client.get("/admin/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def card_count(html: str, state: str) -> int:
    match = re.search(
        rf'data-state="{state}">\s*<div class="card-body">\s*'
        r'<div class="display-4">(\d+)</div>',
        html,
    )
    assert match, state
    return int(match.group(1))


def test_merchant_counts_per_state_link_to_the_filtered_merchant_list(as_role):
    for i, state in enumerate(["active", "active", "paused", "installed", "needs_reauth"]):
        add_merchant(f"statecard{i}", state=state)
    client = as_role("viewer")
    html = page(client)
    assert card_count(html, "active") == 2
    assert card_count(html, "paused") == 1
    assert card_count(html, "installed") == 1
    assert card_count(html, "uninstalled") == 0
    link = re.search(r'data-state="paused">.*?<a href="([^"]+)"', html, re.S).group(1)
    listing = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    # Store hashes long enough never to occur by chance in a CSRF token or an asset URL.
    assert "statecard2" in listing and "statecard0" not in listing


def test_unread_install_notifications_are_counted(as_role):
    merchant = add_merchant()
    db.session.add_all(
        [
            InstallNotification(merchant_id=merchant.id, kind="install", message="new"),
            InstallNotification(
                merchant_id=merchant.id, kind="install", message="old", handled_at=utcnow()
            ),
        ]
    )
    db.session.commit()
    html = page(as_role("viewer"))
    match = re.search(r'id="unread-notifications">.*?display-4">(\d+)<', html, re.S)
    assert match.group(1) == "1"


def test_health_row_per_merchant_counts_products_and_links_failures(as_role):
    merchant = add_merchant("shop", lifecycle_error="Activation refused: no secret")
    for i, state in enumerate(["synced", "synced", "synced", "pending"]):
        db.session.add(
            ProductBinding(merchant_id=merchant.id, bindo_product_id=i, sync_state=state)
        )
    db.session.add(
        ImportedOrder(
            merchant_id=merchant.id, bc_order_id=5, imported_at=utcnow() - timedelta(minutes=3)
        )
    )
    db.session.commit()
    add_failed(merchant, 99, first_error_at=utcnow() - timedelta(hours=2))
    html = page(as_role("viewer"))
    row = re.search(r'<tr class="health-row" data-store="shop">.*?</tr>', html, re.S).group(0)
    assert f"/admin/merchants/{merchant.id}/manage" in row and ">Active<" in row
    assert "/admin/sync-errors/?flt0_0=" in row and ">1</a>" in row and "since 2 h ago" in row
    assert "3 min ago" in row  # the last order
    assert re.findall(r'class="text-right">(\d+)<', row) == ["3", "1"]  # synced, pending
    assert "Activation refused: no secret" in row


def test_health_rows_sort_by_any_column_both_ways(as_role):
    quiet = add_merchant("quiet")
    busy = add_merchant("busy")
    add_failed(busy, 1)
    add_failed(busy, 2)
    add_failed(quiet, 3)
    client = as_role("viewer")

    def order(query: str) -> list[str]:
        html = client.get(f"/admin/{query}").get_data(as_text=True)
        return re.findall(r'class="health-row" data-store="([^"]+)"', html)

    assert order("") == ["busy", "quiet"]  # most failing first by default
    assert order("?sort=failing&desc=0") == ["quiet", "busy"]
    assert order("?sort=store&desc=0") == ["busy", "quiet"]
    assert order("?sort=store&desc=1") == ["quiet", "busy"]
    assert order("?sort=nonsense") == ["busy", "quiet"]


def test_orders_imported_today_exclude_earlier_days(as_role):
    merchant = add_merchant()
    db.session.add_all(
        [
            ImportedOrder(merchant_id=merchant.id, bc_order_id=1, imported_at=utcnow()),
            ImportedOrder(merchant_id=merchant.id, bc_order_id=2, imported_at=utcnow()),
            ImportedOrder(
                merchant_id=merchant.id, bc_order_id=3, imported_at=utcnow() - timedelta(days=2)
            ),
        ]
    )
    db.session.commit()
    html = page(as_role("viewer"))
    assert re.search(r'id="orders-today">Orders imported today:\s*<strong>(?:<a[^>]*>)?2<', html)


def test_queue_depth_and_failed_jobs_per_queue_come_from_redis(
    app, as_role, redis_conn, monkeypatch
):
    # A private queue prefix: workers of other suites sharing this Redis never take these jobs.
    monkeypatch.setitem(app.config, "RQ_QUEUE_PREFIX", "admin-dash-")
    queue = get_queue("low")
    queue.enqueue("worker.jobs.tick", job_id="waiting-1")
    queue.enqueue("worker.jobs.tick", job_id="waiting-2")
    failed = Job.create(
        "worker.jobs.tick", connection=queue.connection, id="broken-1", serializer=queue.serializer
    )
    failed.save()
    FailedJobRegistry(queue=queue).add(failed, ttl=600, exc_string="boom")
    html = page(as_role("viewer"))
    row = re.search(r"<tr><td>low</td>.*?</tr>", html, re.S).group(0)
    assert re.findall(r">(\d+)<", row) == ["2", "1"]
    assert "Redis unreachable" not in html


def test_redis_down_shows_redis_unreachable_instead_of_failing(app, as_role):
    client = as_role("viewer")
    saved_url, saved_conn = app.config["REDIS_URL"], app.extensions.pop("redis", None)
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    try:
        html = page(client)
    finally:
        app.config["REDIS_URL"] = saved_url
        app.extensions.pop("redis", None)
        if saved_conn is not None:
            app.extensions["redis"] = saved_conn
    assert "Redis unreachable" in html
    assert 'id="queue-table"' not in html


def test_last_reconciliation_and_its_drift_per_merchant(as_role):
    merchant = add_merchant("recon", last_reconciled_at=utcnow(), last_drift_count=7)
    run = SyncRun(
        merchant_id=merchant.id, kind="reconcile", state="finished", drift=7, finished_at=utcnow()
    )
    db.session.add(run)
    add_merchant("never")
    db.session.commit()
    html = page(as_role("viewer"))
    table = re.search(r'id="reconcile-table".*?</table>', html, re.S).group(0)
    recon = re.search(r"<tr>\s*<td><a[^>]*>Store recon</a></td>.*?</tr>", table, re.S).group(0)
    assert f"/admin/runs/details/?id={run.id}" in recon and ">7</td>" in recon
    assert f"/admin/merchants/{merchant.id}/manage" in recon
    never = re.search(r"<tr>\s*<td><a[^>]*>Store never</a></td>.*?</tr>", table, re.S).group(0)
    assert "never" in never


def test_open_alerts_are_listed_and_resolved_ones_are_not(as_role):
    db.session.add_all(
        [
            Alert(dedupe_key="a", kind="token_revoked", message="Store needs re-auth"),
            Alert(dedupe_key="b", kind="old", message="Gone", resolved_at=utcnow()),
        ]
    )
    db.session.commit()
    html = page(as_role("viewer"))
    assert re.search(r'id="open-alerts-count">1<', html)
    assert "Store needs re-auth" in html and "Gone" not in html


def test_chart_counts_products_and_agrees_with_the_synced_and_failing_counts(as_role):
    merchant = add_merchant()
    for i in range(4):
        db.session.add(
            ProductBinding(
                merchant_id=merchant.id,
                bindo_product_id=100 + i,
                sync_state="synced",
                last_synced_at=utcnow(),
            )
        )
    db.session.add(
        ProductBinding(
            merchant_id=merchant.id,
            bindo_product_id=200,
            sync_state="synced",
            last_synced_at=utcnow() - timedelta(days=20),  # outside the 14 days
        )
    )
    run = SyncRun(merchant_id=merchant.id, kind="full", state="finished")
    db.session.add(run)
    db.session.flush()
    # Sync items are not products: 9 items for the same products change nothing.
    db.session.add_all([SyncRunItem(run_id=run.id, action="update") for _ in range(9)])
    db.session.commit()
    add_failed(merchant, 5)
    add_failed(merchant, 6, last_error_at=utcnow() - timedelta(days=3))
    html = page(as_role("viewer"))
    chart = re.search(r'<svg id="activity-chart".*?</svg>', html, re.S).group(0)
    assert len(re.findall(r'class="chart-bar-synced"', chart)) == 14
    assert len(re.findall(r'class="chart-bar-errors"', chart)) == 14
    today = utcnow().date().isoformat()
    assert f"{today}: 4 synced" in chart and f"{today}: 1 failing" in chart
    assert "by day of their last sync (4)" in html and "by day of their last failure (2)" in html
