"""Hostile Bindo product data through the real engine: per-product errors or safe rendering,
never a crash, and the healthy product in the same batch still syncs (issue 8, item 4)."""

from __future__ import annotations

from portal.extensions import db
from portal.models import ProductBinding, SyncState
from tests.catalog.helpers import binding, make_category, new_product, push
from tests.conftest import login, make_staff

SCRIPT = "<script>alert('x')</script>"


def test_hostile_products_fail_alone_and_render_escaped(stack, client):
    shop = stack.linked_merchant("hostile1")
    make_category(shop, "Shoes")
    healthy = new_product(stack, shop, sku="OK-1")
    hostile = {
        "script name": new_product(stack, shop, name=f"Mug {SCRIPT}", sku="H-1"),
        "unicode name": new_product(stack, shop, name="Tasse à café ☕ 茶杯", sku="H-2"),
        "10 MB description": new_product(
            stack, shop, sku="H-3", description="<p>" + "x" * (10 * 1024 * 1024) + "</p>"
        ),
        "name too long": new_product(stack, shop, name="N" * 300, sku="H-4"),
        "sku too long": new_product(stack, shop, sku="S" * 300),
        "unreachable image": new_product(
            stack, shop, sku="H-6", image_count=0, image_urls=["http://127.0.0.1:9/gone.png"]
        ),
        "script in the weight": new_product(
            stack, shop, sku="H-7", custom_attributes=[{"name": "Weight", "value": SCRIPT}]
        ),
    }
    ids = [healthy["id"], *(p["id"] for p in hostile.values())]

    counts = push(shop.id, ids)  # one batch: nothing raises out of the job

    assert binding(shop.id, healthy["id"]).sync_state == SyncState.SYNCED.value
    states = {k: binding(shop.id, p["id"]).sync_state for k, p in hostile.items()}
    # Names with markup or any script are data: BigCommerce stores them, we escape them.
    assert states["script name"] == states["unicode name"] == SyncState.SYNCED.value
    for case in (
        "10 MB description",
        "name too long",
        "sku too long",
        "unreachable image",
        "script in the weight",
    ):
        assert states[case] == SyncState.FAILED.value, case
        row = binding(shop.id, hostile[case]["id"])
        assert row.error_message and len(row.error_value or "") <= 200, case
    assert counts["failed"] == 5
    assert counts["created"] == 3

    # Staff read the errors, merchant data escaped everywhere it shows.
    make_staff()
    login(client)
    page = client.get("/admin/sync-errors/").get_data(as_text=True)
    assert SCRIPT not in page
    assert "&lt;script&gt;" in page
    assert db.session.query(ProductBinding).count() == 8
