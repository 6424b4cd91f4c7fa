"""Staff pages in a real browser: login, dashboard, the failed-weight product fixed in Bindo
and retried from the sync errors page by a worker, and a run's live progress."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal import lifecycle
from portal.extensions import db
from portal.models import ProductBinding, StaffUser, SyncRun, utcnow
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


def test_failed_weight_is_fixed_in_bindo_and_retried_from_the_sync_errors_page(
    stack, worker_process, page
):
    merchant = stack.linked_merchant("store1")
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
    stack.bindo.create_product(
        store,
        name="Teapot",
        sku="POT-1",
        price="24.00",
        category="Kitchen",
        custom_attributes=weight("1.2 kg"),
        stock={10: 3},
    )
    stone = stack.bindo.create_product(
        store,
        name="Garden stone",
        sku="STONE-1",
        price="30.00",
        category="Garden",
        custom_attributes=weight("2 stone"),
        stock={10: 2},
    )
    make_staff(email="support@bindo.test", role="support")
    worker_process("--no-ticker")
    run = lifecycle.start_sync(merchant, "initial")
    wait_for(lambda: fresh(SyncRun, run.id).state in {"finished", "failed"}, timeout=60)
    failed = wait_for(
        lambda: (b := binding_of(merchant.id, stone["id"])) and b.sync_state == "failed" and b
    )
    assert failed.error_field == "weight" and failed.error_value == "2 stone"

    staff_login(page, stack.portal_url, "support@bindo.test")
    page.goto(f"{stack.portal_url}/admin/")
    assert page.locator("#products-table").inner_text().count("Store store1") == 1
    screenshot(page, "dashboard")
    page.goto(f"{stack.portal_url}/admin/merchants/")
    screenshot(page, "merchants")

    page.goto(f"{stack.portal_url}/admin/sync-errors/")
    table = page.locator("table.model-list")
    assert "Garden stone" in table.inner_text() and "2 stone" in table.inner_text()
    assert "Blue mug" not in table.inner_text()
    screenshot(page, "sync_errors")

    stack.bindo.update_product(store, stone["id"], custom_attributes=weight("12.7 kg"))
    page.check(f"input.action-checkbox[value='{failed.id}']")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=With selected")
    page.click("a.dropdown-item:has-text('Retry selected')")
    page.wait_for_selector(".alert-success")
    assert "Retry enqueued for 1 product(s): 1 of Store store1." in page.inner_text(
        ".alert-success"
    )

    synced = wait_for(
        lambda: (b := binding_of(merchant.id, stone["id"])) and b.sync_state == "synced" and b,
        timeout=60,
    )
    assert synced.bc_product_id and synced.error_code is None
    assert stack.bc.store("store1").products[synced.bc_product_id]["weight"] > 0
    retry = wait_for(
        lambda: db.session.scalar(
            select(SyncRun).where(SyncRun.kind == "retry", SyncRun.merchant_id == merchant.id)
        )
    )
    assert retry is not None
    page.goto(f"{stack.portal_url}/admin/sync-errors/")
    assert "Garden stone" not in page.locator("body").inner_text()


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
    assert page.inner_text("#run-text").startswith("40 of 250, about")
    run.done, run.counts = 125, {"create": 120, "update": 5}
    db.session.commit()
    expect(page.locator("#run-text")).to_contain_text("125 of 250", timeout=8000)
    assert "about 2 min left" in page.inner_text("#run-text")
    screenshot(page, "run_progress")
    run.done, run.state, run.finished_at = 250, "finished", utcnow()
    db.session.commit()
    expect(page.locator("#run-state")).to_have_text("finished", timeout=8000)
    assert page.inner_text("#run-text") == "250 of 250"
    assert db.session.query(StaffUser).count() == 1
