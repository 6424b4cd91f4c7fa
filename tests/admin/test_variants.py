"""Variants on the staff admin and the merchant page: errors and run pages name the variant
(option values and SKU); counts include variants; the dry run counts variants."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import SyncRun, VariantBinding, utcnow
from tests.catalog.helpers import make_category, push, weight
from tests.lifecycle.conftest import CLIENT_ID, CLIENT_SECRET, STORE, make_merchant, open_app

LABEL = "Size: M, Colour: Red (SKU TEE-M)"


def tee(stack, merchant, m_fields=None, **fields):
    options = [{"name": "Size", "values": ["S", "M"]}, {"name": "Colour", "values": ["Red"]}]
    variants = [
        {
            "option_values": [{"option": "Size", "value": s}, {"option": "Colour", "value": "Red"}],
            "sku": f"TEE-{s}",
            **((m_fields or {}) if s == "M" else {}),
        }
        for s in ("S", "M")
    ]
    return stack.bindo.create_product(
        merchant.bindo_store_id, name="Tee", price="20", category="Shoes", image_count=0,
        options=options, variants=variants, **fields,
    )  # fmt: skip


@pytest.fixture
def shop(stack):
    merchant = stack.linked_merchant("vadm1")
    make_category(merchant, "Shoes")
    return merchant


def test_sync_errors_page_names_the_variant(stack, shop, as_role):
    product = tee(stack, shop, {"custom_attributes": weight("2 stone")})
    push(shop.id, [product["id"]])

    html = as_role("viewer").get("/admin/sync-errors/").get_data(as_text=True)

    assert f"Variant {LABEL}: Weight &#39;2 stone&#39;" in html


def test_run_page_lists_variant_writes_by_name_and_counts_them(stack, shop, as_role):
    from worker.jobs.catalog import full_sync

    product = tee(stack, shop)
    push(shop.id, [product["id"]])
    stack.bindo.update_variant(shop.bindo_store_id, product["id"], product["variants"][1]["id"],
                               price="25")  # fmt: skip
    run = SyncRun(merchant_id=shop.id, kind="full")
    db.session.add(run)
    db.session.commit()
    full_sync(run.id)

    viewer = as_role("viewer")
    details = viewer.get(f"/admin/runs/details/?id={run.id}").get_data(as_text=True)
    assert LABEL in details and "variant_updated" in details
    assert "variant_updated 1" in viewer.get("/admin/runs/").get_data(as_text=True)


def test_dry_run_counts_variants(stack, shop):
    from worker.jobs.catalog import dry_run

    tee(stack, shop)
    run = SyncRun(merchant_id=shop.id, kind="dry_run")
    db.session.add(run)
    db.session.commit()

    counts = dry_run(run.id)

    assert counts["to_create"] == 1 and counts["variants_to_create"] == 2


def test_merchant_page_counts_live_variants(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "BIGCOMMERCE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setitem(app.config, "BIGCOMMERCE_CLIENT_SECRET", CLIENT_SECRET)
    merchant = make_merchant(STORE, state="active", activated_at=utcnow())
    for n, removed in ((1, False), (2, False), (3, True)):
        db.session.add(
            VariantBinding(
                merchant_id=merchant.id, bindo_product_id=7, bindo_variant_id=n,
                bc_variant_id=100 + n, removed=removed, stock_pushed={},
            )
        )  # fmt: skip
    db.session.commit()
    open_app(client, STORE)

    html = client.get("/app").get_data(as_text=True)

    assert 'id="count-variants"><div class="figure">2</div>' in html
