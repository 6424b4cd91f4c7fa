"""The staff manage page of one merchant: resync and dry-run actions, settings, Bindo link,
webhook health, recent runs, history; and the merchant list's search and filters."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import (
    AuditLog,
    JobRecord,
    Merchant,
    SyncRun,
    SyncRunItem,
    WebhookEvent,
    utcnow,
)
from tests.admin.conftest import add_merchant
from tests.conftest import csrf_token


def active_merchant(store_hash: str = "store1", **fields) -> Merchant:
    merchant = add_merchant(store_hash, bindo_store_id=f"bindo-{store_hash}", **fields)
    merchant.access_token = f"token-{store_hash}"
    merchant.bindo_token = "BINDO-TOKEN-NEVER-SHOWN"
    merchant.bindo_location_ids = [10]
    db.session.commit()
    return merchant


def manage_url(merchant: Merchant) -> str:
    return f"/admin/merchants/{merchant.id}/manage"


def press(client, merchant: Merchant, operation: str):
    token = csrf_token(client.get(manage_url(merchant)).get_data(as_text=True))
    return client.post(
        f"/admin/merchants/{merchant.id}/{operation}",
        data={"csrf_token": token},
        follow_redirects=True,
    )


# -- actions ----------------------------------------------------------------------------------


def test_full_resync_creates_a_full_run_and_enqueues_the_catalog_job(as_role):
    merchant = active_merchant()
    support = as_role("support")
    page = press(support, merchant, "resync").get_data(as_text=True)
    run = db.session.query(SyncRun).one()
    assert (run.kind, run.merchant_id) == ("full", merchant.id)
    assert run.requested_by_id is not None
    job = db.session.query(JobRecord).one()
    assert (job.func, job.args, job.queue) == ("worker.jobs.catalog.full_sync", [run.id], "low")
    assert f"Full resync queued as run {run.id}" in page
    actions = [a.action for a in db.session.query(AuditLog)]
    assert "sync.full_requested" in actions


def test_dry_run_creates_a_dry_run_and_the_page_links_to_it(as_role):
    merchant = active_merchant()
    support = as_role("support")
    page = press(support, merchant, "dry_run").get_data(as_text=True)
    run = db.session.query(SyncRun).one()
    assert run.kind == "dry_run" and run.state == "queued"
    job = db.session.query(JobRecord).one()
    assert (job.func, job.args, job.queue) == ("worker.jobs.catalog.dry_run", [run.id], "low")
    assert f"/admin/runs/details/?id={run.id}" in page
    assert "sync.dry_run_requested" in [a.action for a in db.session.query(AuditLog)]


@pytest.mark.parametrize("operation", ["resync", "dry_run"])
def test_viewer_cannot_resync_or_dry_run(as_role, operation):
    merchant = active_merchant()
    viewer = as_role("viewer")
    token = csrf_token(viewer.get("/login").get_data(as_text=True))
    response = viewer.post(
        f"/admin/merchants/{merchant.id}/{operation}", data={"csrf_token": token}
    )
    assert response.status_code == 403
    assert db.session.query(SyncRun).count() == 0
    page = viewer.get(manage_url(merchant)).get_data(as_text=True)
    assert "Full resync" not in page and "Dry run" not in page


def test_a_paused_merchant_is_not_resynced(as_role):
    merchant = active_merchant(state="paused")
    page = press(as_role("admin"), merchant, "resync").get_data(as_text=True)
    assert "Only an active merchant can be synced (it is paused)." in page
    assert db.session.query(SyncRun).count() == 0
    assert db.session.query(JobRecord).count() == 0


@pytest.mark.parametrize("state", ["installed", "paused"])
def test_a_dry_run_previews_a_merchant_not_yet_syncing(as_role, state):
    merchant = active_merchant(state=state)
    press(as_role("admin"), merchant, "dry_run")
    (run,) = db.session.query(SyncRun).all()
    assert run.kind == "dry_run"
    assert db.session.query(JobRecord).one().func == "worker.jobs.catalog.dry_run"


def test_an_uninstalled_merchant_cannot_be_previewed(as_role):
    merchant = active_merchant(state="uninstalled")
    page = press(as_role("admin"), merchant, "dry_run").get_data(as_text=True)
    assert "A dry run needs an installed store with a complete Bindo link" in page
    assert db.session.query(SyncRun).count() == 0


def test_dry_run_details_group_items_by_what_would_happen(as_role):
    merchant = active_merchant()
    run = SyncRun(merchant_id=merchant.id, kind="dry_run", state="finished", finished_at=utcnow())
    db.session.add(run)
    db.session.flush()
    items = [
        ("create", "would create 'Teapot'"),
        ("create", "category 'Garden' to create"),
        ("link", "would link to BigCommerce product 7 by SKU MUG-1"),
        ("link", "would link to BigCommerce product 8 by UPC 0123"),
        ("update", "price changed"),
        ("hide", "deleted in Bindo"),
        ("error", "Weight '2 stone' not understood: use lb, oz, g or kg"),
    ]
    db.session.add_all(
        SyncRunItem(run_id=run.id, bindo_product_id=n, action=a, message=m)
        for n, (a, m) in enumerate(items, 1)
    )
    db.session.commit()
    page = as_role("viewer").get(f"/admin/runs/details/?id={run.id}").get_data(as_text=True)
    plan = page[page.index('id="dry-run-plan"') :]
    headings = re.findall(r'<h3 class="h6 mt-3">([^<]+) <span[^>]*>(\d+)</span>', plan)
    assert headings == [
        ("To create", "2"),
        ("To link by SKU", "1"),
        ("To link by UPC", "1"),
        ("To update", "1"),
        ("To hide", "1"),
        ("Errors", "1"),
        ("Skipped", "0"),
    ]
    assert "Weight &#39;2 stone&#39; not understood" in plan


# -- what the page shows ----------------------------------------------------------------------


def test_manage_page_shows_settings_and_bindo_ids_but_no_secret(as_role):
    merchant = active_merchant(default_category_id=23, safety_buffer=2)
    page = as_role("viewer").get(manage_url(merchant)).get_data(as_text=True)
    settings = page[
        page.index('id="settings"') : page.index("</table>", page.index('id="settings"'))
    ]
    assert "Default BigCommerce category id</th><td>BC category #23" in settings
    assert "Stock safety buffer</th><td>2" in settings
    assert "bindo-store1" in page and "location: 10" in page
    assert "BINDO-TOKEN-NEVER-SHOWN" not in page and "token-store1" not in page
    assert merchant.bindo_token_enc not in page


def test_webhook_health_counts_the_last_24_hours_per_source(as_role):
    merchant = active_merchant()
    other = active_merchant("store2")
    now = utcnow()

    def event(key, state, *, source="bigcommerce", age=timedelta(minutes=5), owner=merchant, **kw):
        db.session.add(
            WebhookEvent(
                source=source,
                event_key=key,
                merchant_id=owner.id,
                scope="store/order/created",
                payload={},
                state=state,
                received_at=now - age,
                **kw,
            )
        )

    event("a", "processed")
    event("b", "processed", age=timedelta(hours=1))
    event("c", "failed", error="<b>Bindo said no</b>", attempts=6)
    event("old", "processed", age=timedelta(days=2))
    event("x", "failed", owner=other, error="other store's failure")
    db.session.commit()
    page = as_role("viewer").get(manage_url(merchant)).get_data(as_text=True)
    bc = re.search(r'data-source="bigcommerce">(.*?)</tr>', page, re.S).group(1)
    bindo = re.search(r'data-source="bindo">(.*?)</tr>', page, re.S).group(1)
    assert "failed 1, processed 2" in bc
    assert "&lt;b&gt;Bindo said no&lt;/b&gt;" in bc and "6 attempt(s)" in bc
    assert (now - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M") in bc
    assert "never" in bindo and "none" in bindo
    assert "other store" not in page


def test_connection_check_lists_bigcommerce_hooks_when_recorded(as_role):
    merchant = active_merchant()
    merchant.last_connection_check = {
        "bigcommerce": "ok",
        "bindo": "ok",
        "checked_at": "2024-05-01T10:00:00+00:00",
        "hooks": [{"id": 91, "scope": "store/order/*", "is_active": False, "destination": "x"}],
    }
    db.session.commit()
    page = as_role("viewer").get(manage_url(merchant)).get_data(as_text=True)
    hooks = re.search(r'id="bc-hooks"[^>]*>(.*?)</table>', page, re.S).group(1)
    assert "<td>#91</td><td>store/order/*</td><td>no</td>" in hooks


def test_recent_runs_and_the_last_50_history_rows(as_role):
    merchant = active_merchant()
    other = active_merchant("store2")
    runs = [SyncRun(merchant_id=merchant.id, kind="full", state="finished") for _ in range(12)]
    db.session.add_all([*runs, SyncRun(merchant_id=other.id, kind="initial")])
    start = utcnow() - timedelta(hours=2)
    db.session.add_all(
        AuditLog(
            actor_type="staff",
            actor="s@bindo.test",
            action=f"act.{n}",
            merchant_id=merchant.id,
            at=start + timedelta(minutes=n),
        )
        for n in range(60)
    )
    db.session.add(AuditLog(actor_type="system", action="other.store", merchant_id=other.id))
    db.session.commit()
    page = as_role("viewer").get(manage_url(merchant)).get_data(as_text=True)
    table = re.search(r'id="recent-runs">(.*?)</table>', page, re.S).group(1)
    shown = [int(i) for i in re.findall(r"details/\?id=(\d+)", table)]
    assert shown == sorted((r.id for r in runs), reverse=True)[:10]
    history = re.search(r'id="history">(.*?)</table>', page, re.S).group(1)
    actions = re.findall(r"<td>(act\.\d+)</td>", history)
    assert len(actions) == 50 and actions[0] == "act.59" and actions[-1] == "act.10"
    assert "other.store" not in page


# -- list search and filters ------------------------------------------------------------------


@pytest.fixture
def three_merchants(app):
    add_merchant("alpha1", store_name="Alpha Garden", state="active", bindo_store_id="B-100")
    add_merchant("beta22", store_name="Beta Books", state="paused", bindo_store_id="B-200")
    add_merchant("gamma3", store_name="Gamma Games", state="installed")


def filter_query(app, label: str, operation: str, value: str) -> str:
    """``flt0_<n>=value`` for the merchant list's filter named ``label`` with ``operation``."""
    view = next(v for v in app.extensions["portal_admin"]._views if v.endpoint == "merchants")
    for index, flt in enumerate(view._filters):
        if flt.name == label and flt.operation() == operation:
            return f"flt0_{view.get_filter_arg(index, flt)}={value}"
    raise AssertionError(f"no filter {label} {operation}")


def listed(client, query: str) -> set[str]:
    page = client.get(f"/admin/merchants/?{query}").get_data(as_text=True)
    return set(re.findall(r"/admin/merchants/\d+/manage\">(\w+)</a>", page))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Beta", {"beta22"}),
        ("gamma3", {"gamma3"}),
        ("B-100", {"alpha1"}),
        ("", {"alpha1", "beta22", "gamma3"}),
    ],
)
def test_merchant_list_search(as_role, three_merchants, query, expected):
    assert listed(as_role("viewer"), f"search={query}") == expected


@pytest.mark.parametrize(
    ("label", "operation", "value", "expected"),
    [
        ("State", "equals", "paused", {"beta22"}),
        ("Store Hash", "contains", "a", {"alpha1", "beta22", "gamma3"}),
        ("Store Hash", "equals", "gamma3", {"gamma3"}),
        ("Name", "contains", "Garden", {"alpha1"}),
        ("Bindo store id", "equals", "B-200", {"beta22"}),
    ],
)
def test_merchant_list_filters(app, as_role, three_merchants, label, operation, value, expected):
    query = filter_query(app, label, operation, value)
    assert listed(as_role("viewer"), query) == expected
