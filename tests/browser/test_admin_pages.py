"""Staff pages in a real browser (issue 17, the support desk): check and activate with the
job's outcome shown in place, the dashboard's health rows, failures grouped by cause, a SKU
search and a retry that says nothing changed, laptop widths, and a run's live progress."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import InstallNotification, Merchant, ProductBinding, StaffUser, SyncRun, utcnow
from tests.browser.conftest import screenshot, staff_login
from tests.conftest import make_staff, wait_for

pytestmark = pytest.mark.browser


def weight(value: str) -> list[dict[str, str]]:
    return [{"name": "Weight", "value": value}]


def fresh(model, ident):
    db.session.expire_all()
    return db.session.get(model, ident)


def binding_of(merchant_id: int, bindo_id: int) -> ProductBinding | None:
    db.session.expire_all()
    return db.session.scalar(
        select(ProductBinding).where(
            ProductBinding.merchant_id == merchant_id, ProductBinding.bindo_product_id == bindo_id
        )
    )


LAPTOP_WIDTHS = (1366, 1440)


def nav_fits_one_line(page) -> None:
    """Every menu entry and the sign-out button on one row of the navigation bar (their
    vertical middles within a few pixels: the brand, links and button differ in height)."""
    middles = [box["y"] + box["height"] / 2 for box in nav_boxes(page)]
    assert max(middles) - min(middles) < 8, middles


def nav_boxes(page) -> list[dict]:
    items = page.locator("nav.navbar .nav-link, nav.navbar .navbar-brand, nav.navbar button")
    boxes = [items.nth(i).bounding_box() for i in range(items.count())]
    return [b for b in boxes if b and b["height"] > 0]


def no_hidden_columns(page) -> None:
    """The list table is no wider than the window: no column cut off or scrolled away."""
    table = page.locator("table.model-list").bounding_box()
    assert table["x"] >= 0 and table["x"] + table["width"] <= page.viewport_size["width"]


def test_support_desk_check_activate_group_search_and_retry_in_a_browser(
    stack, worker_process, page
):
    """Check and activate from the manage page with the outcome shown in place, then the
    failures grouped by cause, found by SKU, and a retry that says nothing changed."""
    merchant = stack.linked_merchant("store1", active=False)
    store = merchant.bindo_store_id
    stack.bindo.create_product(
        store,
        name="Blue mug",
        sku="MUG-1",
        price="12.00",
        category="Kitchen",
        custom_attributes=weight("350 g"),
        stock={10: 5},
    )
    stones = [
        stack.bindo.create_product(
            store,
            name=f"Garden stone {n}",
            sku=f"STONE-{n}",
            price="30.00",
            category="Garden",
            custom_attributes=weight(value),
            stock={10: 2},
        )
        for n, value in enumerate(("2 stone", "heavy", "3 stone"), start=1)
    ]
    make_staff(email="support@bindo.test", role="support")
    worker_process("--no-ticker")
    staff_login(page, stack.portal_url, "support@bindo.test")
    manage = f"{stack.portal_url}/admin/merchants/{merchant.id}/manage"

    # Check connection: the job's result replaces "Queued" without a reload.
    page.goto(manage)
    page.click("button:has-text('Check connection')")
    expect(page.locator("#job-box")).to_contain_text("Connection OK", timeout=30_000)
    page.reload()
    expect(page.locator("select[name=location_id]")).to_contain_text("Main Street")
    # Activate: checked first, then active with its initial sync.
    page.click("button:has-text('Activate')")
    expect(page.locator("#job-box")).to_contain_text("Activated", timeout=30_000)
    wait_for(lambda: fresh(Merchant, merchant.id).state == "active")
    run = wait_for(
        lambda: db.session.scalar(select(SyncRun).where(SyncRun.kind == "initial")), timeout=30
    )
    wait_for(lambda: fresh(SyncRun, run.id).state in {"finished", "failed"}, timeout=60)
    assert db.session.scalars(select(InstallNotification)).all() == [] or all(
        n.handled_at for n in db.session.scalars(select(InstallNotification))
    )

    for width in LAPTOP_WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{stack.portal_url}/admin/")
        nav_fits_one_line(page)
        row = page.locator("tr.health-row[data-store=store1]")
        expect(row).to_contain_text("Active")
        expect(row.locator("td").nth(2)).to_contain_text("3")
        if width == 1366:
            screenshot(page, "dashboard")
            page.goto(f"{stack.portal_url}/admin/merchants/")
            screenshot(page, "merchants")

        page.goto(f"{stack.portal_url}/admin/sync-errors/")
        nav_fits_one_line(page)
        no_hidden_columns(page)
    group = page.locator("details.failure-group").first
    expect(group.locator("summary")).to_contain_text("3 × weight")
    group.locator("summary").click()
    expect(group).to_contain_text("STONE-2")
    screenshot(page, "sync_errors")

    # Search by SKU, then retry with nothing changed in Bindo: the page says so.
    page.fill("input[name=search]", "STONE-2")
    page.keyboard.press("Enter")
    expect(page.locator("table.model-list tbody tr")).to_have_count(1)
    page.click("button:has-text('Retry all 1 shown by this search and filter')")
    expect(page.locator("#job-box")).to_contain_text(
        f"Retry failed again: Bindo #{stones[1]['id']} weight still 'heavy'", timeout=30_000
    )
    expect(page.locator("#job-box")).to_contain_text("Nothing changed in Bindo")
    assert binding_of(merchant.id, stones[1]["id"]).attempts == 1

    # Fixed in Bindo: its webhook re-syncs the product; the list no longer shows it.
    stack.bindo.update_product(store, stones[1]["id"], custom_attributes=weight("12.7 kg"))
    synced = wait_for(
        lambda: (b := binding_of(merchant.id, stones[1]["id"])) and b.sync_state == "synced" and b,
        timeout=60,
    )
    assert stack.bc.store("store1").products[synced.bc_product_id]["weight"] > 0
    page.goto(f"{stack.portal_url}/admin/sync-errors/?search=STONE-2")
    expect(page.locator("table.model-list")).not_to_contain_text("Garden stone 2")


def test_run_page_updates_its_progress_without_a_reload(stack, page):
    merchant = stack.linked_merchant("store2", active=True)
    run = SyncRun(
        merchant_id=merchant.id,
        kind="initial",
        state="running",
        total=250,
        done=40,
        counts={"create": 40},
        started_at=utcnow() - timedelta(minutes=2),
    )
    db.session.add(run)
    db.session.commit()
    make_staff(email="viewer@bindo.test", role="viewer")
    staff_login(page, stack.portal_url, "viewer@bindo.test")
    page.goto(f"{stack.portal_url}/admin/runs/details/?id={run.id}")
    # Locator expectations, not wait_for_function: the admin CSP forbids eval.
    expect(page.locator("#run-text")).to_contain_text("min left")
    assert page.inner_text("#run-text").startswith("40 of 250 (16 %), about")
    run.done, run.counts = 125, {"create": 120, "update": 5}
    db.session.commit()
    expect(page.locator("#run-text")).to_contain_text("125 of 250 (50 %)", timeout=8000)
    assert "about 2 min left" in page.inner_text("#run-text")
    screenshot(page, "run_progress")
    run.done, run.state, run.finished_at = 250, "finished", utcnow()
    run.counts = {"create": 120, "update": 130}
    db.session.commit()
    # The page reloads itself at the end: State, Finished at and Counts are the final ones.
    expect(page.locator("#run-state")).to_have_text("finished", timeout=8000)
    expect(page.locator("#run-progress[data-finished='1']")).to_have_count(1, timeout=8000)
    assert page.inner_text("#run-text") == "250 of 250 (100 %)"
    assert "create 120, update 130" in page.inner_text("table")
    assert db.session.query(StaffUser).count() == 1
