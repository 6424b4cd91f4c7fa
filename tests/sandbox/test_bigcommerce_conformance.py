"""The simulator's requests and responses validate against BigCommerce's own OpenAPI files."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.validation.response.exceptions import InvalidData

from tests.sandbox.conftest import product_body

REPO_ROOT = Path(__file__).resolve().parents[2]
SPECS = REPO_ROOT.parent / "shared" / "bigcommerce" / "specs"


# openapi-core only knows plain JSON; the Inventory API answers errors as problem+json.
CONFIG = Config(extra_media_type_deserializers={"application/problem+json": json.loads})


@cache
def spec(name: str) -> OpenAPI:
    return OpenAPI.from_file_path(str(SPECS / name), config=CONFIG)


def check(
    spec_name: str, response: requests.Response, store_hash: str, *, request_ok: bool = True
) -> None:
    """Validate request and response, re-hosting the sim URL on the spec's server."""
    sent = response.request
    path = sent.url.split(f"/stores/{store_hash}", 1)[1]
    url = f"https://api.bigcommerce.com/stores/{store_hash}{path}"
    rehosted = requests.Request(
        method=sent.method,
        url=url,
        headers={k: v for k, v in sent.headers.items() if k.lower() != "content-length"},
        data=sent.body,
    ).prepare()
    openapi = spec(spec_name)
    openapi_request = RequestsOpenAPIRequest(rehosted)
    if sent.body is not None and request_ok:
        openapi.validate_request(openapi_request)
    try:
        openapi.validate_response(openapi_request, RequestsOpenAPIResponse(response))
    except InvalidData as exc:
        # Spec defect: the product image response is a oneOf of the multipart and the JSON
        # image schemas, which overlap, so any valid image matches both and oneOf fails.
        # "is valid under each of" proves it matched the JSON branch: accept only that case.
        if "is valid under each of" not in str(exc.__cause__ or exc):
            raise


def _json_headers() -> dict[str, str]:
    return {"Content-Type": "application/json", "Accept": "application/json"}


@pytest.fixture
def seeded(bc_store, tiny_png_server) -> dict[str, Any]:
    """One category, one tracked product with an image, one order, one hook."""
    tree = bc_store.post(
        "/v3/catalog/trees/categories", [{"name": "Mugs", "tree_id": 1, "parent_id": 0}]
    )
    category_id = tree.json()["data"][0]["category_id"]
    product = bc_store.post(
        "/v3/catalog/products",
        product_body(
            categories=[category_id],
            inventory_tracking="product",
            inventory_level=10,
            images=[{"image_url": tiny_png_server.png, "is_thumbnail": True}],
        ),
    ).json()["data"]
    order = bc_store.post(
        "/v2/orders",
        {
            "billing_address": {"first_name": "Sam", "email": "sam@example.com", "zip": "78701"},
            "products": [{"product_id": product["id"], "quantity": 1}],
        },
    ).json()
    hook = bc_store.post(
        "/v3/hooks", {"scope": "store/order/*", "destination": "https://example.com/hook"}
    ).json()["data"]
    return {"category": category_id, "product": product, "order": order, "hook": hook}


PRODUCTS = "products_catalog.v3.yml"
TREES = "category-trees_catalog.v3.yml"
CATEGORIES = "categories_catalog.v3.yml"
ORDERS = "orders.v2.oas2.yml"
STORE = "store_information.v2.yml"
INVENTORY = "inventory.v3.yml"
LOCATIONS = "locations.v3.yml"
HOOKS = "webhooks.v3.yml"


def test_product_endpoints_conform(bc_store, seeded, tiny_png_server):
    pid = seeded["product"]["id"]
    http = bc_store.http
    calls = [
        bc_store.get("/v3/catalog/products", params={"include": "images"}),
        bc_store.get(f"/v3/catalog/products/{pid}", params={"include": "images"}),
        bc_store.get("/v3/catalog/products", params={"sku": "MUG-1"}),
        bc_store.post(
            "/v3/catalog/products",
            product_body(name="Red Mug", sku="MUG-2"),
            headers=_json_headers(),
        ),
        bc_store.put(f"/v3/catalog/products/{pid}", {"price": 12.5}, headers=_json_headers()),
        bc_store.put("/v3/catalog/products", [{"id": pid, "price": 13}], headers=_json_headers()),
        bc_store.post("/v3/catalog/products", product_body(), headers=_json_headers()),  # 409
        bc_store.post("/v3/catalog/products", {"name": "x"}, headers=_json_headers()),  # 422
    ]
    for index, response in enumerate(calls):
        # Spec defect: the batch PUT needs each item's `id`, but the item schema marks `id`
        # readOnly, so a correct batch request is unvalidatable; only its response is checked.
        # The last call is deliberately invalid (it pins the 422), so its request is not checked.
        check(PRODUCTS, response, bc_store.store_hash, request_ok=index not in (5, 7))
    assert [r.status_code for r in calls] == [200, 200, 200, 200, 200, 200, 409, 422]
    too_many = bc_store.put("/v3/catalog/products", [{"id": pid}] * 11, headers=_json_headers())
    assert too_many.status_code == 413
    check(PRODUCTS, too_many, bc_store.store_hash, request_ok=False)
    assert http is bc_store.http


def test_image_endpoints_conform(bc_store, seeded, tiny_png_server):
    pid = seeded["product"]["id"]
    created = bc_store.post(
        f"/v3/catalog/products/{pid}/images",
        {"image_url": tiny_png_server.png, "sort_order": 3},
        headers=_json_headers(),
    )
    image_id = created.json()["data"]["id"]
    calls = [
        created,
        bc_store.get(f"/v3/catalog/products/{pid}/images"),
        bc_store.get(f"/v3/catalog/products/{pid}/images/{image_id}"),
        bc_store.put(
            f"/v3/catalog/products/{pid}/images/{image_id}",
            {"description": "side"},
            headers=_json_headers(),
        ),
    ]
    for response in calls:
        assert response.status_code == 200
        check(PRODUCTS, response, bc_store.store_hash)


def test_category_endpoints_conform(bc_store, seeded):
    calls = [
        (TREES, bc_store.get("/v3/catalog/trees")),
        (TREES, bc_store.get("/v3/catalog/trees/categories", params={"tree_id:in": "1"})),
        (
            TREES,
            bc_store.post(
                "/v3/catalog/trees/categories",
                [{"name": "Cups", "tree_id": 1, "parent_id": seeded["category"]}],
                headers=_json_headers(),
            ),
        ),
        (CATEGORIES, bc_store.get("/v3/catalog/categories")),
    ]
    for spec_name, response in calls:
        assert response.status_code in (200, 201)
        check(spec_name, response, bc_store.store_hash)


def test_store_information_conforms(bc_store):
    for path in ("/v2/store", "/v2/time"):
        response = bc_store.get(path)
        assert response.status_code == 200
        check(STORE, response, bc_store.store_hash)


def test_order_endpoints_conform(bc_store, seeded):
    oid = seeded["order"]["id"]
    calls = [
        bc_store.get("/v2/orders", params={"status_id": 1, "sort": "date_modified:desc"}),
        bc_store.get(f"/v2/orders/{oid}"),
        bc_store.get(f"/v2/orders/{oid}/products"),
        bc_store.get(f"/v2/orders/{oid}/shipping_addresses"),
        bc_store.put(f"/v2/orders/{oid}", {"status_id": 11}, headers=_json_headers()),
    ]
    for response in calls:
        assert response.status_code == 200
        check(ORDERS, response, bc_store.store_hash)


def test_order_create_conforms(bc_store, seeded):
    response = bc_store.post(
        "/v2/orders",
        {
            "billing_address": {"first_name": "Ann", "email": "ann@example.com", "zip": "1000"},
            "products": [
                {"name": "Gift wrap", "quantity": 1, "price_inc_tax": 2, "price_ex_tax": 2}
            ],
        },
        headers=_json_headers(),
    )
    assert response.status_code == 200
    check(ORDERS, response, bc_store.store_hash)


def test_inventory_endpoints_conform(bc_store, seeded):
    pid = seeded["product"]["id"]
    calls = [
        (
            INVENTORY,
            bc_store.put(
                "/v3/inventory/adjustments/absolute",
                {"reason": "sync", "items": [{"location_id": 1, "product_id": pid, "quantity": 4}]},
                headers=_json_headers(),
            ),
        ),
        (INVENTORY, bc_store.get("/v3/inventory/items", params={"product_id:in": str(pid)})),
        (LOCATIONS, bc_store.get("/v3/inventory/locations")),
    ]
    for spec_name, response in calls:
        assert response.status_code == 200
        check(spec_name, response, bc_store.store_hash)


def test_inventory_rejection_conforms(bc_store, seeded):
    response = bc_store.put(
        "/v3/inventory/adjustments/absolute",
        {"items": [{"location_id": 1, "product_id": 999999, "quantity": 4}]},
        headers=_json_headers(),
    )
    assert response.status_code == 422
    check(INVENTORY, response, bc_store.store_hash)


def test_webhook_endpoints_conform(bc_store, seeded):
    hid = seeded["hook"]["id"]
    calls = [
        bc_store.post(
            "/v3/hooks",
            {
                "scope": "store/product/updated",
                "destination": "https://example.com/products",
                "is_active": True,
                "headers": {"X-Bindo-Hook-Secret": "s3cret"},
            },
            headers=_json_headers(),
        ),
        bc_store.get("/v3/hooks", params={"is_active": "true"}),
        bc_store.get(f"/v3/hooks/{hid}"),
        bc_store.put(f"/v3/hooks/{hid}", {"is_active": False}, headers=_json_headers()),
        bc_store.delete(f"/v3/hooks/{hid}"),
    ]
    for response in calls:
        assert response.status_code == 200
        check(HOOKS, response, bc_store.store_hash)


VARIANTS = "product-variants_catalog.v3.yml"


def _nulls_dropped(response: requests.Response) -> requests.Response:
    """Spec defect: the variants file marks most nullable numbers with OAS2's `x-nullable`,
    which an OpenAPI 3 validator ignores, so the nulls its own text documents ("null: the
    product's price is used") fail. Null values are dropped (they are optional properties);
    everything else is validated as sent."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    response._content = json.dumps(strip(response.json())).encode()
    return response


def _base_variant_zeroed(response: requests.Response) -> requests.Response:
    payload = response.json()
    assert payload["data"]["base_variant_id"] is None
    payload["data"]["base_variant_id"] = 0
    response._content = json.dumps(payload).encode()
    return response


OPTIONS = "product-variant-options_catalog.v3.yml"


def test_variant_endpoints_conform(bc_store):
    from tests.sandbox.test_bigcommerce_variants import tee_body

    created = bc_store.post("/v3/catalog/products", tee_body(), headers=_json_headers())
    # Spec defect: the create body's variant items reuse the full variant schema, which
    # requires the read-only `id` and `product_id`, although the same spec tells clients to
    # create variants inline on a product POST; only the response is checked.
    # Spec defect two: `base_variant_id` is a non-nullable integer in the schema, while the
    # products reference (CONTRACT §3.2) says it is null for products with options; the
    # simulator answers null, and only that one value is patched before validating.
    check(PRODUCTS, _base_variant_zeroed(created), bc_store.store_hash, request_ok=False)
    pid = created.json()["data"]["id"]
    full = bc_store.get(f"/v3/catalog/products/{pid}", params={"include": "variants,options"})
    assert full.json()["data"]["base_variant_id"] is None
    check(PRODUCTS, _base_variant_zeroed(full), bc_store.store_hash)
    first = full.json()["data"]["variants"][0]["id"]
    option = full.json()["data"]["options"][0]["id"]
    calls = [
        (VARIANTS, bc_store.get("/v3/catalog/variants", params={"sku": "TEE-S-Red"})),
        (VARIANTS, bc_store.get(f"/v3/catalog/products/{pid}/variants")),
        (VARIANTS, bc_store.get(f"/v3/catalog/products/{pid}/variants/{first}")),
        (
            VARIANTS,
            bc_store.put(
                f"/v3/catalog/products/{pid}/variants/{first}",
                {"price": 18.5},
                headers=_json_headers(),
            ),
        ),
        (
            VARIANTS,
            bc_store.put(
                "/v3/catalog/variants",
                [{"id": first, "purchasing_disabled": True}],
                headers=_json_headers(),
            ),
        ),
        (OPTIONS, bc_store.get(f"/v3/catalog/products/{pid}/options")),
        (
            OPTIONS,
            bc_store.post(
                f"/v3/catalog/products/{pid}/options/{option}/values",
                {"label": "XL", "sort_order": 9},
                headers=_json_headers(),
            ),
        ),
        (
            INVENTORY,
            bc_store.put(
                "/v3/inventory/adjustments/absolute",
                {"items": [{"location_id": 1, "variant_id": first, "quantity": 4}]},
                headers=_json_headers(),
            ),
        ),
        (INVENTORY, bc_store.get("/v3/inventory/items", params={"product_id:in": str(pid)})),
    ]
    for spec_name, response in calls:
        assert response.status_code == 200, response.text
        if spec_name == VARIANTS:
            _nulls_dropped(response)
        check(spec_name, response, bc_store.store_hash)
    too_many = bc_store.put("/v3/catalog/variants", [{"id": first}] * 51, headers=_json_headers())
    assert too_many.status_code == 413
    check(VARIANTS, too_many, bc_store.store_hash, request_ok=False)


def test_checkout_order_with_shipping_tax_and_coupon_conforms(bc_sim, bc_store, seeded):
    """Issue 15 item 4: the checkout's order, its coupons and its totals."""
    bc_store.put(
        "/v3/catalog/products/channel-assignments",
        [{"product_id": seeded["product"]["id"], "channel_id": 1}],
    )
    order = requests.post(
        f"{bc_sim.url}/_sim/stores/{bc_store.store_hash}/checkout",
        json={"products": [{"product_id": seeded["product"]["id"], "quantity": 2}]},
        timeout=5,
    ).json()
    calls = [
        bc_store.get(f"/v2/orders/{order['id']}"),
        bc_store.get(f"/v2/orders/{order['id']}/coupons"),
    ]
    for response in calls:
        assert response.status_code == 200
        check(ORDERS, response, bc_store.store_hash)
    body, (coupon,) = (r.json() for r in calls)
    assert coupon["code"] == "SAVE2" and coupon["order_id"] == order["id"]
    parts = (
        Decimal(body["subtotal_ex_tax"])
        - Decimal(body["coupon_discount"])
        + Decimal(body["shipping_cost_ex_tax"])
        + Decimal(body["total_tax"])
    )
    assert Decimal(body["total_tax"]) > 0 and Decimal(body["shipping_cost_ex_tax"]) > 0
    assert parts == Decimal(body["total_inc_tax"])


def test_order_refunds_conform(bc_sim, bc_store, seeded):
    """Issue 15 item 5: GET /v3/orders/{id}/payment_actions/refunds after two refunds."""
    oid = seeded["order"]["id"]
    [line] = bc_store.get(f"/v2/orders/{oid}/products").json()
    refund_url = f"{bc_sim.url}/_sim/stores/{bc_store.store_hash}/orders/{oid}/refund"
    requests.post(
        refund_url, json={"items": [{"order_product_id": line["id"], "quantity": 1}]}, timeout=5
    )
    requests.post(refund_url, json={"items": [{"amount": "1.25"}]}, timeout=5)
    response = bc_store.get(f"/v3/orders/{oid}/payment_actions/refunds")
    assert response.status_code == 200
    check("orders.v3.yml", response, bc_store.store_hash)
    first, second = response.json()["data"]
    assert first["id"] < second["id"]
    assert first["items"][0] == {
        "item_type": "PRODUCT",
        "item_id": line["id"],
        "quantity": 1,
        "requested_amount": float(Decimal(line["price_inc_tax"])),
    }
    assert second["total_amount"] == 1.25 and second["items"][0]["item_type"] == "ORDER"


def test_channel_endpoints_conform(bc_store, seeded):
    """Issue 15 item 8: channels and product channel assignments."""
    pid = seeded["product"]["id"]
    assigned = bc_store.put(
        "/v3/catalog/products/channel-assignments",
        [{"product_id": pid, "channel_id": 1}, {"product_id": pid, "channel_id": 2}],
        headers=_json_headers(),
    )
    assert assigned.status_code == 204
    check(PRODUCTS, assigned, bc_store.store_hash)
    listed = bc_store.get(
        "/v3/catalog/products/channel-assignments", params={"product_id:in": str(pid)}
    )
    assert listed.status_code == 200
    check(PRODUCTS, listed, bc_store.store_hash)
    assert {row["channel_id"] for row in listed.json()["data"]} == {1, 2}
    refused = bc_store.put(
        "/v3/catalog/products/channel-assignments",
        [{"product_id": pid, "channel_id": 99}],
        headers=_json_headers(),
    )
    assert refused.status_code == 422
    check(PRODUCTS, refused, bc_store.store_hash)
    channels = bc_store.get("/v3/channels")
    assert channels.status_code == 200
    check("channels.v3.yml", channels, bc_store.store_hash)
    assert [c["id"] for c in channels.json()["data"]] == [1, 2]
