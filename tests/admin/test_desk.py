"""The support desk (issue 17, staff side): grouped failures, search and "retry all" on the
current filter, job outcomes shown where staff acted, staff settings, Reconcile, deep links,
one time format, the merchant list's health columns."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal.admin.display import relative_age
from portal.admin.jobs import outcome
from portal.extensions import db
from portal.models import (
    AuditLog,
    CategoryCache,
    ImportedOrder,
    JobRecord,
    ProductBinding,
    SyncRun,
    utcnow,
)
from tests.admin.conftest import add_failed, add_merchant
from tests.admin.test_merchant_manage import active_merchant, manage_url, press
from tests.conftest import csrf_token

RETRY = "worker.jobs.catalog.retry_products"


def listing(client, **params) -> str:
    response = client.get("/admin/sync-errors/", query_string=params)
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.fixture
def outdoor(app):
    """13 products failing on one cause, 1 on another, and another merchant's failure."""
    shop = add_merchant("outdoor1", store_name="Demo Outdoor Co")
    rows = [
        add_failed(shop, i, name=f"Stone {i}", first_error_at=utcnow() - timedelta(hours=i))
        for i in range(1, 14)
    ]
    add_failed(shop, 50, error_code="sku_taken", sku="TENT-9", name="Tent")
    other = add_merchant("garden2", store_name="Garden World")
    add_failed(other, 134, name="Hose", sku="HOSE-1")
    return {"shop": shop, "other": other, "rows": rows}


def test_failures_are_grouped_by_merchant_and_kind_with_count_and_oldest(as_role, outdoor):
    html = listing(as_role("viewer"))
    groups = re.findall(
        r'<details class="failure-group"[^>]*>\s*<summary>(.*?)</summary>', html, re.S
    )
    assert len(groups) == 3
    first = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", groups[0]))
    assert first.startswith("13 × weight unreadable, Demo Outdoor Co, since ")
    assert "(13 h ago)" in first  # the oldest failure
    block = html[html.index('data-store="outdoor1"') :]
    assert "Stone 13" in block and "Bindo #13" in block


@pytest.mark.parametrize(
    ("search", "found", "absent"),
    [
        ("garden2", "Hose", "Tent"),  # store hash
        ("Garden World", "Hose", "Tent"),  # merchant name
        ("134", "Hose", "Tent"),  # Bindo id
        ("TENT-9", "Tent", "Hose"),  # SKU
        ("sku_taken", "Tent", "Hose"),  # kind
    ],
)
def test_search_by_store_merchant_bindo_id_sku_and_kind(as_role, outdoor, search, found, absent):
    html = listing(as_role("viewer"), search=search)
    assert found in html and absent not in html


def test_kind_dropdown_and_merchant_picker_list_what_fails_now(as_role, outdoor):
    client = as_role("viewer")
    html = listing(client)
    # Flask-Admin passes the filter options to its script as JSON.
    assert '"Demo Outdoor Co (outdoor1)"' in html and '"Garden World (garden2)"' in html
    assert '"sku taken"' in html and '"weight unreadable"' in html
    view = next(
        v
        for v in client.application.extensions["portal_admin"]._views
        if v.endpoint == "sync_errors"
    )
    picker = next(i for i, f in enumerate(view._filters) if f.name == "Merchant")
    only = listing(client, **{f"flt0_{picker}": outdoor["other"].id})
    assert "Hose" in only and "Stone 1<" not in only


def test_retry_all_acts_on_the_current_filter(as_role, outdoor):
    client = as_role("support")
    page = listing(client, search="outdoor1")
    assert "Retry all 14 shown by this search and filter" in page
    response = client.post(
        "/admin/sync-errors/retry-filtered?search=outdoor1",
        data={"csrf_token": csrf_token(page)},
        follow_redirects=True,
    )
    assert "Retry enqueued for 14 product(s): 14 of Demo Outdoor Co." in response.get_data(
        as_text=True
    )
    (job,) = db.session.query(JobRecord).filter_by(func=RETRY).all()
    assert job.args[0] == outdoor["shop"].id and len(job.args[1]) == 14


def test_viewer_cannot_retry_a_filter(as_role, outdoor):
    client = as_role("viewer")
    token = csrf_token(listing(client))
    assert (
        client.post("/admin/sync-errors/retry-filtered", data={"csrf_token": token}).status_code
        == 403
    )


# -- job outcomes -----------------------------------------------------------------------------


def job(merchant, func: str, state: str, args=None, **fields) -> JobRecord:
    record = JobRecord(
        job_id=f"j-{func}-{state}",
        func=f"worker.jobs.{func}",
        queue="default",
        args=args or [merchant.id],
        merchant_id=merchant.id,
        state=state,
        **fields,
    )
    db.session.add(record)
    db.session.commit()
    return record


def test_the_job_box_says_what_the_check_found_in_plain_words(as_role):
    merchant = active_merchant()
    record = job(merchant, "lifecycle.check_connection", "queued")
    client = as_role("viewer")
    assert client.get(f"/admin/jobs/{record.job_id}").get_json()["message"].startswith("Queued")
    merchant.last_connection_check = {
        "bigcommerce": "ok",
        "bindo": "Bindo rejected the API token; copy it again from Bindo and save the link.",
        "checked_at": utcnow().isoformat(),
    }
    record.state = "finished"
    db.session.commit()
    data = client.get(f"/admin/jobs/{record.job_id}").get_json()
    assert data["finished"] and data["ok"] is False
    assert data["message"] == (
        "Check failed. Bindo: Bindo rejected the API token; copy it again from Bindo and save "
        "the link."
    )
    assert client.get("/admin/jobs/nope").status_code == 404


def test_a_refused_link_and_a_retry_that_failed_again_say_why(app):
    merchant = active_merchant()
    link = job(
        merchant,
        "catalog.link_product",
        "finished",
        args=[merchant.id, 101, 35, "a@b"],
        result={
            "linked": False,
            "error": "BigCommerce product 35 is already linked to Bindo product 7",
        },
    )
    assert outcome(link)["message"] == (
        "Link refused: BigCommerce product 35 is already linked to Bindo product 7"
    )
    stone = add_failed(merchant, 12, error_value="heavy")
    retry = job(merchant, "catalog.retry_products", "finished", args=[merchant.id, [stone.id]])
    message = outcome(retry)["message"]
    assert message.startswith("Retry failed again: Bindo #12 weight still 'heavy'.")
    assert "Nothing changed in Bindo" in message
    stone.sync_state = "synced"
    db.session.commit()
    assert outcome(retry) == {
        "state": "finished",
        "finished": True,
        "ok": True,
        "message": "Retried 1 product(s): all synced.",
    }


def test_check_redirects_to_the_page_with_its_job_box(as_role):
    merchant = active_merchant()
    html = press(as_role("support"), merchant, "check").get_data(as_text=True)
    record = db.session.query(JobRecord).one()
    assert f'data-url="/admin/jobs/{record.job_id}"' in html and 'id="job-box"' in html


# -- settings, reconcile, links, times ---------------------------------------------------------


def test_staff_change_settings_from_the_manage_page_audited_with_a_sync(as_role):
    merchant = active_merchant()
    db.session.add(CategoryCache(merchant_id=merchant.id, path_key="garden", bc_category_id=8))
    db.session.commit()
    client = as_role("support")
    page = client.get(manage_url(merchant)).get_data(as_text=True)
    assert "garden (BC #8)" in page
    response = client.post(
        f"/admin/merchants/{merchant.id}/settings",
        data={
            "csrf_token": csrf_token(page),
            "default_category_id": "8",
            "content_managed_by": "bigcommerce",
            "allow_out_of_stock_orders": "y",
        },
        follow_redirects=True,
    )
    assert "Settings saved" in response.get_data(as_text=True)
    db.session.refresh(merchant)
    assert (merchant.default_category_id, merchant.content_managed_by) == (8, "bigcommerce")
    assert merchant.allow_out_of_stock_orders is True
    row = db.session.query(AuditLog).filter_by(action="merchant.settings_changed").one()
    assert (row.actor_type, row.actor) == ("staff", "support@bindo.test")
    funcs = [j.func for j in db.session.query(JobRecord)]
    assert funcs == ["worker.jobs.catalog.settings_changed"]
    page = client.get(manage_url(merchant)).get_data(as_text=True)
    assert "garden (BC #8)</td>" in page and "<td>BigCommerce</td>" in page


def test_viewer_cannot_change_settings_or_reconcile(as_role):
    merchant = active_merchant()
    client = as_role("viewer")
    token = csrf_token(client.get("/admin/").get_data(as_text=True))
    for action in ("settings", "reconcile"):
        url = f"/admin/merchants/{merchant.id}/{action}"
        assert client.post(url, data={"csrf_token": token}).status_code == 403


def test_reconcile_button_queues_a_catalog_reconcile(as_role):
    merchant = active_merchant()
    html = press(as_role("support"), merchant, "reconcile").get_data(as_text=True)
    record = db.session.query(JobRecord).one()
    assert (record.func, record.args, record.queue) == (
        "worker.jobs.catalog.reconcile",
        [merchant.id],
        "low",
    )
    assert "Reconciliation queued" in html and record.job_id in html
    assert db.session.query(AuditLog).filter_by(action="sync.reconcile_requested").count() == 1


def test_ids_read_bindo_and_bc_with_deep_links(app, as_role, monkeypatch):
    monkeypatch.setitem(app.config, "BINDO_BACKOFFICE_URL", "http://bindo.example")
    merchant = active_merchant()
    binding = add_failed(merchant, 134, bc_product_id=35)
    client = as_role("viewer")
    html = client.get(f"/admin/sync-errors/details/?id={binding.id}").get_data(as_text=True)
    assert 'href="http://bindo.example/stores/bindo-store1/products/134"' in html
    assert ">Bindo #134</a>" in html
    assert 'href="https://store-store1.mybigcommerce.com/manage/products/35/edit"' in html
    assert ">BC #35</a>" in html


def test_orders_list_shows_status_names_totals_and_links(as_role):
    merchant = active_merchant()
    db.session.add(
        ImportedOrder(
            merchant_id=merchant.id,
            bc_order_id=134,
            bindo_order_id=77,
            bc_status_id=11,
            total="42.50",
            state="imported",
            imported_at=utcnow(),
        )
    )
    db.session.commit()
    html = as_role("viewer").get("/admin/orders/").get_data(as_text=True)
    assert "Awaiting Fulfillment" in html and "42.50" in html
    assert "https://store-store1.mybigcommerce.com/manage/orders/134" in html
    assert ">BC #134</a>" in html and "Bindo #77" in html


@pytest.mark.parametrize(
    ("ago", "text"),
    [
        (timedelta(seconds=10), "just now"),
        (timedelta(minutes=3), "3 min ago"),
        (timedelta(hours=2), "2 h ago"),
        (timedelta(days=1), "1 day ago"),
        (timedelta(days=5), "5 days ago"),
        (-timedelta(minutes=3), "in 3 min"),
    ],
)
def test_relative_age(ago, text):
    now = utcnow()
    assert relative_age(now - ago, now) == text


def test_merchant_list_has_health_columns_sortable_by_failing(as_role):
    quiet, busy = add_merchant("quiet"), add_merchant("busy")
    add_failed(busy, 1)
    add_failed(busy, 2)
    db.session.add(
        SyncRun(merchant_id=quiet.id, kind="full", state="finished", finished_at=utcnow())
    )
    db.session.add(ProductBinding(merchant_id=quiet.id, bindo_product_id=5, sync_state="synced"))
    db.session.commit()
    client = as_role("viewer")
    html = client.get("/admin/merchants/").get_data(as_text=True)
    for title in ("Failing", "Last sync", "Last order", "Last webhook", "Activation error"):
        assert title in html
    view = next(
        v for v in client.application.extensions["portal_admin"]._views if v.endpoint == "merchants"
    )
    index = [name for name, _ in view._list_columns].index("failing")
    desc = client.get(f"/admin/merchants/?sort={index}&desc=1").get_data(as_text=True)
    assert desc.index('/manage">busy<') < desc.index('/manage">quiet<')
    asc = client.get(f"/admin/merchants/?sort={index}").get_data(as_text=True)
    assert asc.index('/manage">quiet<') < asc.index('/manage">busy<')


def test_dry_run_is_offered_before_activation_by_the_same_rule_as_the_endpoint(as_role):
    merchant = active_merchant(state="installed")
    page = as_role("support").get(manage_url(merchant)).get_data(as_text=True)
    dry = re.search(r"<button[^>]*>Dry run</button>", page).group(0)
    resync = re.search(r"<button[^>]*>Full resync</button>", page).group(0)
    assert "disabled" not in dry and "disabled" in resync
    merchant.bindo_location_ids = []  # an incomplete link: neither the button nor the endpoint
    db.session.commit()
    client = as_role("support")
    page = client.get(manage_url(merchant)).get_data(as_text=True)
    assert "disabled" in re.search(r"<button[^>]*>Dry run</button>", page).group(0)
    assert "needs an installed store with a complete Bindo link" in press(
        client, merchant, "dry_run"
    ).get_data(as_text=True)
