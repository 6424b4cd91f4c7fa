"""Catalog v3 rules: product validation and uniqueness, filters, batches, images, categories."""

from __future__ import annotations

import pytest

from tests.sandbox.conftest import product_body


def create(bc_store, **overrides):
    return bc_store.post("/v3/catalog/products", product_body(**overrides))


def test_create_answers_200_with_data_and_meta(bc_store):
    response = create(bc_store)
    assert response.status_code == 200
    body = response.json()
    assert body["meta"] == {}
    product = body["data"]
    for name in ("id", "base_variant_id", "date_created", "date_modified", "custom_url"):
        assert name in product
    assert product["custom_url"] == {"url": "/blue-mug/", "is_customized": False}


@pytest.mark.parametrize("missing", ["name", "type", "weight", "price"])
def test_required_fields_on_create_give_422_errors_map(bc_store, missing):
    body = product_body()
    del body[missing]
    response = bc_store.post("/v3/catalog/products", body)
    assert response.status_code == 422
    assert missing in response.json()["errors"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "x" * 251),
        ("sku", "s" * 256),
        ("upc", "1" * 15),
        ("price", -0.01),
        ("weight", 10_000_000_000),
        ("weight", "heavy"),
        ("type", "service"),
        ("inventory_tracking", "sometimes"),
        ("availability", "soon"),
        ("is_visible", "yes"),
        ("categories", ["1"]),
    ],
)
def test_field_limits_give_422(bc_store, field, value):
    response = create(bc_store, **{field: value})
    assert response.status_code == 422
    assert field in response.json()["errors"]


def test_image_url_longer_than_255_gives_422(bc_store):
    response = create(bc_store, images=[{"image_url": "http://x/" + "a" * 260}])
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        ({"name": "Blue Mug", "sku": "A"}, {"name": "BLUE MUG", "sku": "B"}, "name"),
        ({"name": "One", "sku": "mug-1"}, {"name": "Two", "sku": "MUG-1"}, "sku"),
    ],
)
def test_duplicate_name_or_sku_case_insensitive_gives_409(bc_store, first, second, field):
    assert create(bc_store, **first).status_code == 200
    response = create(bc_store, **second)
    assert response.status_code == 409
    body = response.json()
    assert set(body) >= {"status", "title", "type", "errors"}
    assert field in body["errors"]


def test_unknown_category_gives_409(bc_store):
    response = create(bc_store, categories=[424242])
    assert response.status_code == 409
    assert "categories" in response.json()["errors"]


def test_inline_image_is_downloaded_and_becomes_thumbnail(bc_store, tiny_png_server):
    product = create(bc_store, images=[{"image_url": tiny_png_server.png}]).json()["data"]
    got = bc_store.get(f"/v3/catalog/products/{product['id']}", params={"include": "images"})
    [image] = got.json()["data"]["images"]
    assert image["image_url"] == tiny_png_server.png and image["is_thumbnail"] is True


@pytest.mark.parametrize("which", ["text", "missing"])
def test_bad_inline_image_rejects_the_whole_create(bc_store, tiny_png_server, which):
    url = getattr(tiny_png_server, which)
    response = create(bc_store, images=[{"image_url": url}])
    assert response.status_code == 422
    assert "images" in response.json()["errors"]
    assert bc_store.get("/v3/catalog/products").json()["data"] == []


def test_list_filters_and_pagination(bc_store):
    for index in range(5):
        create(bc_store, name=f"Mug {index}", sku=f"SKU-{index}", is_visible=index % 2 == 0)
    page = bc_store.get("/v3/catalog/products", params={"limit": 2, "page": 2}).json()
    assert [p["sku"] for p in page["data"]] == ["SKU-2", "SKU-3"]
    assert page["meta"]["pagination"] == {
        "total": 5,
        "count": 2,
        "per_page": 2,
        "current_page": 2,
        "total_pages": 3,
        "links": {
            "current": "?page=2&limit=2",
            "previous": "?page=1&limit=2",
            "next": "?page=3&limit=2",
        },
    }
    cases = [
        ({"sku": "sku-1"}, ["SKU-1"]),
        ({"sku:in": "SKU-1,SKU-4"}, ["SKU-1", "SKU-4"]),
        ({"name": "Mug 3"}, ["SKU-3"]),
        ({"is_visible": "false"}, ["SKU-1", "SKU-3"]),
    ]
    for params, skus in cases:
        found = bc_store.get("/v3/catalog/products", params=params).json()["data"]
        assert [p["sku"] for p in found] == skus, params
    assert (
        bc_store.get("/v3/catalog/products", params={"limit": 999}).json()["meta"]["pagination"][
            "per_page"
        ]
        == 250
    )


def test_filter_by_id_in_and_upc(bc_store):
    one = create(bc_store, name="A", sku="A", upc="123").json()["data"]["id"]
    create(bc_store, name="B", sku="B")
    found = bc_store.get("/v3/catalog/products", params={"id:in": f"{one},999"}).json()["data"]
    assert [p["id"] for p in found] == [one]
    assert len(bc_store.get("/v3/catalog/products", params={"upc": "123"}).json()["data"]) == 1


def test_batch_update_over_ten_items_gives_documented_413(bc_store):
    response = bc_store.put("/v3/catalog/products", [{"id": n} for n in range(11)])
    assert response.status_code == 413
    assert response.json() == {
        "status": 413,
        "title": "The request payload is too large. The maximum items allowed in the array is 10.",
        "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
        "errors": {},
    }


def test_batch_update_applies_all_items(bc_store):
    ids = [create(bc_store, name=f"P{n}", sku=f"S{n}").json()["data"]["id"] for n in range(3)]
    response = bc_store.put("/v3/catalog/products", [{"id": i, "price": 5} for i in ids])
    assert response.status_code == 200
    assert [p["price"] for p in response.json()["data"]] == [5, 5, 5]


@pytest.mark.parametrize(
    ("second_item", "status", "error_key"),
    [
        ({"price": -1}, 422, "1.price"),
        ({}, 422, "1.id"),
        ({"sku": "S0"}, 409, "1.sku"),
    ],
)
def test_batch_with_one_bad_item_fails_whole_batch(bc_store, second_item, status, error_key):
    ids = [create(bc_store, name=f"P{n}", sku=f"S{n}").json()["data"]["id"] for n in range(2)]
    item = {"id": ids[1], **second_item} if second_item != {} else {"price": 1}
    response = bc_store.put("/v3/catalog/products", [{"id": ids[0], "price": 7}, item])
    assert response.status_code == status
    assert error_key in response.json()["errors"]
    assert bc_store.get(f"/v3/catalog/products/{ids[0]}").json()["data"]["price"] == 9.99


def test_update_get_delete_one_product(bc_store):
    pid = create(bc_store).json()["data"]["id"]
    updated = bc_store.put(f"/v3/catalog/products/{pid}", {"meta_description": "nice"})
    assert updated.json()["data"]["meta_description"] == "nice"
    assert bc_store.delete(f"/v3/catalog/products/{pid}").status_code == 204
    assert bc_store.get(f"/v3/catalog/products/{pid}").status_code == 404
    assert bc_store.put(f"/v3/catalog/products/{pid}", {"price": 1}).status_code == 404


def test_image_subresource_lifecycle_keeps_one_thumbnail(bc_store, tiny_png_server):
    pid = create(bc_store).json()["data"]["id"]
    path = f"/v3/catalog/products/{pid}/images"
    assert bc_store.get(path).status_code == 204
    first = bc_store.post(path, {"image_url": tiny_png_server.png}).json()["data"]
    second = bc_store.post(
        path, {"image_url": tiny_png_server.png, "is_thumbnail": True, "description": "b"}
    ).json()["data"]
    images = bc_store.get(path).json()["data"]
    assert [i["is_thumbnail"] for i in images] == [False, True]
    bc_store.put(f"{path}/{first['id']}", {"is_thumbnail": True})
    thumbs = [i["id"] for i in bc_store.get(path).json()["data"] if i["is_thumbnail"]]
    assert thumbs == [first["id"]]
    assert bc_store.delete(f"{path}/{second['id']}").status_code == 204
    assert len(bc_store.get(path).json()["data"]) == 1


@pytest.mark.parametrize("which", ["text", "missing"])
def test_image_create_answers_400_when_download_fails(bc_store, tiny_png_server, which):
    pid = create(bc_store).json()["data"]["id"]
    response = bc_store.post(
        f"/v3/catalog/products/{pid}/images", {"image_url": getattr(tiny_png_server, which)}
    )
    assert response.status_code == 400


def test_tree_categories_batch_create_and_filters(bc_store):
    created = bc_store.post(
        "/v3/catalog/trees/categories",
        [{"name": "Kitchen", "tree_id": 1}, {"name": "Garden", "tree_id": 1}],
    )
    assert created.status_code == 201
    assert created.json()["meta"] == {"total": 2, "success": 2, "failed": 0}
    kitchen = created.json()["data"][0]["category_id"]
    child = bc_store.post("/v3/catalog/trees/categories", [{"name": "Mugs", "parent_id": kitchen}])
    assert child.status_code == 201
    cases = [
        ({"name": "Garden"}, ["Garden"]),
        ({"parent_id:in": str(kitchen)}, ["Mugs"]),
        ({"category_id:in": str(kitchen)}, ["Kitchen"]),
        ({"tree_id:in": "1"}, ["Kitchen", "Garden", "Mugs"]),
    ]
    for params, names in cases:
        found = bc_store.get("/v3/catalog/trees/categories", params=params).json()["data"]
        assert [c["name"] for c in found] == names, params
    legacy = bc_store.get("/v3/catalog/categories").json()["data"]
    assert {(c["id"], c["parent_id"], c["name"]) for c in legacy} >= {(kitchen, 0, "Kitchen")}


def test_sibling_category_names_are_unique_case_insensitive(bc_store):
    bc_store.post("/v3/catalog/trees/categories", [{"name": "Kitchen", "tree_id": 1}])
    all_bad = bc_store.post("/v3/catalog/trees/categories", [{"name": "KITCHEN", "tree_id": 1}])
    assert all_bad.status_code == 422
    assert all_bad.json()["meta"] == {"total": 1, "success": 0, "failed": 1}
    assert "0.name" in all_bad.json()["errors"]["errors"]
    mixed = bc_store.post(
        "/v3/catalog/trees/categories",
        [{"name": "kitchen", "tree_id": 1}, {"name": "Bath", "tree_id": 1}],
    )
    assert mixed.status_code == 207
    assert [c["name"] for c in mixed.json()["data"]] == ["Bath"]


def test_trees_list_shows_channel_one_tree(bc_store):
    trees = bc_store.get("/v3/catalog/trees", params={"channel_id:in": "1"}).json()["data"]
    assert [(t["id"], t["channels"]) for t in trees] == [(1, [1])]
