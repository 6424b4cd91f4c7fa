"""The merchant app page inside an iframe on another origin, as in the BigCommerce control
panel: the partitioned SameSite=None session cookie and the CSRF token both work in Chromium.
Also writes the merchant app and staff manage screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from markupsafe import escape
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import (
    CategoryCache,
    ImportedOrder,
    Merchant,
    ProductBinding,
    SyncRun,
    WebhookEvent,
    audit,
    utcnow,
)
from sandbox.server import serve_in_thread
from tests.browser.conftest import screenshot, staff_login
from tests.conftest import make_staff

pytestmark = pytest.mark.browser

STONE = "Weight '2 stone' not understood: use lb, oz, g or kg"


@pytest.fixture
def control_panel(stack, monkeypatch) -> Iterator[str]:
    """A stand-in for the BigCommerce control panel on ``http://localhost:<port>``, a different
    origin (and site) from the portal on ``http://127.0.0.1:<port>``; each visit frames a
    freshly signed /bigcommerce/load URL (the JWT is single-use)."""
    outer = Flask("control_panel")

    @outer.get("/store/<store_hash>/app")
    def frame(store_hash: str) -> str:
        src = stack.bc.load_url(store_hash, None, None)  # the store owner (may save settings)
        return (
            "<!doctype html><title>BigCommerce control panel</title>"
            "<h1 style='font:16px sans-serif'>Control panel: Apps &rsaquo; Bindo</h1>"
            f'<iframe id="app" src="{escape(src)}" style="width:1200px;height:1000px;border:0">'
            "</iframe>"
        )

    server = serve_in_thread(outer)
    origin = f"http://localhost:{server.port}"
    monkeypatch.setitem(stack.app.config, "BIGCOMMERCE_FRAME_ANCESTORS", origin)
    yield origin
    server.shutdown()


def painted(page, portal_url: str) -> None:
    """Wait until the app frame has loaded its stylesheet, and give the page a viewport as tall
    as the control panel: a full-page screenshot that must resize the viewport sometimes
    captures the cross-origin frame blank (it is repainted in its own process)."""
    page.set_viewport_size({"width": 1400, "height": 1100})
    frame = next(f for f in page.frames if f.url.startswith(f"{portal_url}/app"))
    frame.wait_for_load_state("load")
    frame.wait_for_load_state("networkidle")


def seed_status(merchant: Merchant) -> None:
    """Enough rows for a realistic status block and manage page."""
    now = utcnow()
    db.session.add_all(
        [
            SyncRun(
                merchant_id=merchant.id,
                kind="initial",
                state="finished",
                total=3,
                done=3,
                counts={"created": 2, "failed": 1},
                started_at=now - timedelta(minutes=12),
                finished_at=now - timedelta(minutes=10),
            ),
            ProductBinding(
                merchant_id=merchant.id, bindo_product_id=1, name="Blue mug", sync_state="synced"
            ),
            ProductBinding(
                merchant_id=merchant.id, bindo_product_id=2, name="Teapot", sync_state="synced"
            ),
            ProductBinding(
                merchant_id=merchant.id,
                bindo_product_id=3,
                name="Garden stone",
                sku="STONE-1",
                sync_state="failed",
                error_message=STONE,
                attempts=2,
                last_error_at=now - timedelta(minutes=10),
            ),
            ImportedOrder(
                merchant_id=merchant.id,
                bc_order_id=100,
                bindo_order_id=5001,
                state="imported",
                flags=["oversold"],
                imported_at=now,
            ),
            WebhookEvent(
                source="bigcommerce",
                event_key="e1",
                merchant_id=merchant.id,
                scope="store/order/created",
                payload={},
                state="processed",
            ),
        ]
    )
    # The category list as the paced refresh job stores it (the page never calls BigCommerce).
    merchant.categories_refreshed_at = now
    db.session.add_all(
        CategoryCache(merchant_id=merchant.id, path_key=key, bc_category_id=cid, label=label)
        for cid, key, label in [(18, "garden", "Garden"), (19, "garden > tools", "Garden / Tools")]
    )
    audit("merchant.activated", actor_type="staff", actor="admin@bindo.test", merchant=merchant)
    db.session.commit()


def test_app_page_works_inside_a_cross_origin_iframe(stack, control_panel, page):
    merchant = stack.linked_merchant("store1")
    seed_status(merchant)
    page.goto(f"{control_panel}/store/store1/app")
    app = page.frame_locator("#app")
    expect(app.locator("#connection-state")).to_contain_text(
        "Connected: products, stock and orders are syncing."
    )
    expect(app.locator("#failing-products")).to_contain_text(STONE)
    expect(app.locator("#recent-orders")).to_contain_text("5001")
    # Status and failing products first, with a red count; settings last.
    expect(app.locator("#failing-badge")).to_have_text("1 failing")
    expect(app.locator("#failing-badge")).to_have_css("background-color", "rgb(197, 46, 58)")
    painted(page, stack.portal_url)
    screenshot(page, "merchant_app")
    status_y = app.locator("#status").bounding_box()["y"]
    assert status_y < app.locator("#settings").bounding_box()["y"]
    assert "admin" not in app.locator("body").inner_text().lower()
    expect(app.locator("#oos-explained")).to_contain_text("stock tracking")
    options = app.locator("select[name=default_category_id] option").all_inner_texts()
    assert options[1:] == ["Garden", "Garden / Tools"]

    # The form post needs the session cookie (CSRF token) set inside the frame.
    app.locator("select[name=content_managed_by]").select_option("bigcommerce")
    app.locator("button:has-text('Save settings')").click()
    expect(app.locator("[role=status]")).to_contain_text("Settings saved")
    db.session.expire_all()
    assert db.session.get(Merchant, merchant.id).content_managed_by == "bigcommerce"

    cookies = {c["name"]: c for c in page.context.cookies(stack.portal_url)}
    session = cookies["bc_app_session"]
    assert session["sameSite"] == "None" and session["secure"] is True


def test_staff_manage_page_screenshot(stack, page):
    merchant = stack.linked_merchant("store1")
    seed_status(merchant)
    merchant.last_connection_check = {
        "bigcommerce": "ok",
        "bindo": "ok",
        "checked_at": utcnow().isoformat(timespec="seconds"),
    }
    db.session.commit()
    make_staff(email="support@bindo.test", role="support")
    staff_login(page, stack.portal_url, "support@bindo.test")
    page.goto(f"{stack.portal_url}/admin/merchants/{merchant.id}/manage")
    page.click("button:has-text('Dry run')")
    expect(page.locator(".alert-info").first).to_contain_text("Dry run queued as run")
    expect(page.locator("#job-box")).to_be_visible()  # its outcome, polled in place
    expect(page.locator("#recent-runs")).to_contain_text("Dry run")
    expect(page.locator("#webhook-health")).to_contain_text("processed 1")
    screenshot(page, "merchant_manage")
