"""In Chromium: pausing with a reason the merchant reads inside BigCommerce, orders waiting
while paused and imported by a worker on Resume; the staff multi-location set-up from both
stores' lists; the portal's root and favicon; the Bindo back office reordering images."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import ImportedOrder, Merchant, WebhookEvent
from tests.browser.conftest import screenshot, staff_login
from tests.browser.test_merchant_iframe import control_panel, painted  # noqa: F401 - fixture
from tests.conftest import make_staff, wait_for
from tests.orders.helpers import place_order

pytestmark = pytest.mark.browser

REASON = "Stock count in progress until Monday 9:00"
ADDRESS = {
    "address1": "1 Mall Rd",
    "city": "Austin",
    "state": "TX",
    "zip": "73301",
    "email": "mall@example.com",
    "geo_coordinates": {"latitude": 30.2, "longitude": -97.7},
    "country_code": "US",
}


def order_event(merchant: Merchant, order_id: int) -> WebhookEvent:
    """The inbox row BigCommerce's store/order/created delivery leaves (ignored while paused)."""
    return WebhookEvent(
        source="bigcommerce",
        event_key=f"order-created-{order_id}",
        merchant_id=merchant.id,
        scope="store/order/created",
        payload={"scope": "store/order/created", "data": {"type": "order", "id": order_id}},
        state="ignored",
        error="merchant is paused",
    )


def test_pause_reason_and_waiting_orders_reach_the_merchant_and_resume_imports_them(
    stack,
    control_panel,  # noqa: F811 - the fixture imported above
    worker_process,
    page,
):
    merchant = stack.linked_merchant("store1")
    make_staff(email="support@bindo.test", role="support")
    staff_login(page, stack.portal_url, "support@bindo.test")
    manage = f"{stack.portal_url}/admin/merchants/{merchant.id}/manage"
    page.goto(manage)
    page.fill("#pause-reason", REASON)
    page.click("#pause-form button")
    expect(page.locator("#pause-state")).to_contain_text(REASON)

    custom = {"name": "Gift card", "price_inc_tax": 25, "price_ex_tax": 25, "quantity": 1}
    order_id = place_order(stack, "store1", [custom])
    db.session.add(order_event(merchant, order_id))
    db.session.commit()
    page.goto(manage)
    expect(page.locator("#waiting-orders")).to_contain_text(f"BC #{order_id}")

    merchant_page = page.context.new_page()
    merchant_page.goto(f"{control_panel}/store/store1/app")
    app = merchant_page.frame_locator("#app")
    expect(app.locator("#state-badge")).to_have_text("Paused")
    expect(app.locator("#pause-reason")).to_have_text(REASON)
    expect(app.locator("#waiting-orders")).to_contain_text(f"#{order_id}")
    assert "admin" not in app.locator("body").inner_text().lower()
    painted(merchant_page, stack.portal_url)
    screenshot(merchant_page, "merchant_app_paused")

    worker_process("--no-ticker")
    page.click("button:has-text('Resume')")
    expect(page.locator(".alert-info, .alert-success").first).to_contain_text(
        "1 waiting order(s) are being imported now"
    )
    imported = wait_for(
        lambda: db.session.scalar(
            select(ImportedOrder).where(
                ImportedOrder.merchant_id == merchant.id, ImportedOrder.bc_order_id == order_id
            )
        ),
        timeout=30,
    )
    db.session.refresh(imported)
    wait_for(lambda: (db.session.refresh(imported), imported.state)[1] == "imported", timeout=30)
    assert [o["external_reference"] for o in stack.bindo.orders(merchant.bindo_store_id)]
    merchant_page.reload()
    app = merchant_page.frame_locator("#app")
    expect(app.locator("#state-badge")).to_have_text("Connected")
    expect(app.locator("#recent-orders")).to_contain_text(f"#{order_id}")


def test_staff_set_up_several_locations_from_both_stores_lists(stack, worker_process, page):
    locations = [{"id": 10, "name": "Main Street"}, {"id": 12, "name": "Warehouse"}]
    merchant = stack.linked_merchant("store1", locations=[locations[0]])
    stack.bindo.add_location(merchant.bindo_store_id, "Warehouse", 12)
    created = requests.post(
        f"{stack.bc_url}/stores/store1/v3/inventory/locations",
        json=[{"code": "MALL", "label": "Mall", "address": ADDRESS}],
        headers={"X-Auth-Token": merchant.access_token},
        timeout=5,
    )
    assert created.status_code == 200
    make_staff(email="support@bindo.test", role="support")
    worker_process("--no-ticker")
    staff_login(page, stack.portal_url, "support@bindo.test")
    page.goto(f"{stack.portal_url}/admin/merchants/{merchant.id}/manage")
    page.click("#locations-link")
    page.click("button:has-text('Read the lists again')")
    for _ in range(40):  # the worker reads both lists; the page shows them once stored
        if "Warehouse" in page.locator("#bindo-locations").inner_text():
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(page.locator("#bindo-locations")).to_contain_text("Bindo #12 Warehouse")

    page.check("#bindo-12")
    page.check("#mode-map")
    page.select_option("select[name=map_10]", "1")
    page.fill("#safety-buffer", "2")
    page.click("button:has-text('Check and save')")
    expect(page.locator("#problems")).to_contain_text("Map Bindo location 12")

    page.select_option("select[name=map_12]", "2")
    page.click("button:has-text('Check and save')")
    expect(page.locator("#saved-problems")).to_contain_text("Every linked Bindo location")
    screenshot(page, "merchant_locations")
    db.session.expire_all()
    saved = db.session.get(Merchant, merchant.id)
    assert (saved.location_mode, saved.location_map, saved.safety_buffer) == (
        "map",
        {"10": 1, "12": 2},
        2,
    )


def test_the_root_goes_to_the_admin_and_the_favicon_loads(stack, page):
    page.goto(f"{stack.portal_url}/")
    expect(page.locator("input[name=email]")).to_be_visible()  # /admin/ asks to sign in
    assert "/login" in page.url and "admin" in page.url
    icon = page.request.get(f"{stack.portal_url}/favicon.ico")
    assert icon.ok and icon.headers["content-type"] == "image/vnd.microsoft.icon"


def test_the_bindo_back_office_reorders_a_products_images(stack, page):
    stack.bindo.create_store("shop", "token", "secret")
    product = stack.bindo.create_product("shop", name="Tent", image_count=3)
    first, second, third = (img["id"] for img in product["images"])
    page.goto(f"{stack.bindo_url}/_sim/stores/shop")
    page.fill("input[name=image_order]", f"{third}, {first}, {second}")
    page.click("button:has-text('Reorder images')")
    expect(page.locator("input[name=image_order]")).to_have_value(f"{third}, {first}, {second}")
    reordered = stack.bindo.get_product("shop", product["id"])
    assert [img["id"] for img in reordered["images"]] == [third, first, second]
