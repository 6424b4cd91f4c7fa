"""Catalog sync rules end to end against both simulators (jobs called in-process)."""

from __future__ import annotations

import threading

import pytest

from portal.extensions import db
from portal.models import Alert, Merchant, ProductBinding, SyncRun, SyncRunItem, SyncState
from tests.catalog.helpers import (
    bc_images,
    bc_product,
    binding,
    endpoints,
    make_bc_product,
    make_category,
    new_product,
    push,
    total,
    weight,
    writes,
)


@pytest.fixture
def shop(stack):
    merchant = stack.linked_merchant("rules1")
    merchant.shoes = make_category(merchant, "Shoes")
    stack.bc.reset_requests()
    return merchant


def test_in_store_only_product_is_never_created(stack, shop):
    product = new_product(stack, shop, in_store_only=True)

    counts = push(shop.id, [product["id"]])

    assert counts["skipped"] == 1
    assert total(endpoints(stack, "rules1")) == 0
    assert binding(shop.id, product["id"]).sync_state == SyncState.SKIPPED.value


def test_deleted_or_in_store_only_after_push_is_hidden_not_deleted_and_comes_back(stack, shop):
    product = new_product(stack, shop)
    push(shop.id, [product["id"]])
    bc_id = binding(shop.id, product["id"]).bc_product_id

    stack.bindo.set_in_store_only(shop.bindo_store_id, product["id"], True)
    stack.bc.reset_requests()
    assert push(shop.id, [product["id"]])["hidden"] == 1
    assert writes(stack, "rules1") == {"PUT /v3/catalog/products": 1}
    assert bc_product(stack, "rules1", bc_id)["is_visible"] is False
    assert binding(shop.id, product["id"]).sync_state == SyncState.HIDDEN.value

    stack.bindo.set_in_store_only(shop.bindo_store_id, product["id"], False)
    assert push(shop.id, [product["id"]])["updated"] == 1
    assert bc_product(stack, "rules1", bc_id)["is_visible"] is True

    stack.bindo.delete_product(shop.bindo_store_id, product["id"])
    assert push(shop.id, [product["id"]])["hidden"] == 1
    assert bc_id in stack.bc.stores["rules1"].products  # hidden, never deleted
    assert "DELETE /v3/catalog/products/{id}" not in endpoints(stack, "rules1")


def test_hidden_by_hand_in_bigcommerce_stays_hidden_until_bindo_online_flag_changes(stack, shop):
    product = new_product(stack, shop)
    push(shop.id, [product["id"]])
    bc_id = binding(shop.id, product["id"]).bc_product_id
    bc_product(stack, "rules1", bc_id)["is_visible"] = False  # the merchant hides it

    stack.bindo.update_product(shop.bindo_store_id, product["id"], price="20.00")
    push(shop.id, [product["id"]])
    assert bc_product(stack, "rules1", bc_id)["price"] == 20.0
    assert bc_product(stack, "rules1", bc_id)["is_visible"] is False

    stack.bindo.set_in_store_only(shop.bindo_store_id, product["id"], True)
    push(shop.id, [product["id"]])
    stack.bindo.set_in_store_only(shop.bindo_store_id, product["id"], False)
    push(shop.id, [product["id"]])
    assert bc_product(stack, "rules1", bc_id)["is_visible"] is True


def test_category_precedence_creation_once_per_store_and_cache(stack, shop):
    first = new_product(
        stack,
        shop,
        category="Shoes",
        custom_attributes=[*weight("1 lb"), {"name": "Category", "value": "Sale > Summer"}],
    )
    second = new_product(stack, shop, category="sale > SUMMER")
    push(shop.id, [first["id"], second["id"]])

    assert endpoints(stack, "rules1")["POST /v3/catalog/trees/categories"] == 2  # Sale, Summer
    store = stack.bc.stores["rules1"]
    summer = next(c for c in store.categories.values() if c["name"] == "Summer")
    for pid in (first["id"], second["id"]):
        bc_id = binding(shop.id, pid).bc_product_id
        assert store.products[bc_id]["categories"] == [summer["category_id"]]

    # Another run: both paths come from the cache, no category request at all.
    stack.bc.reset_requests()
    third = new_product(stack, shop, category="Sale > Summer")
    push(shop.id, [third["id"]])
    assert not [k for k in endpoints(stack, "rules1") if "categor" in k or "trees" in k]


def test_default_category_when_the_product_has_none(stack):
    merchant = stack.linked_merchant("rules2")
    default = make_category(merchant, "Everything")
    merchant.default_category_id = default
    db.session.commit()
    product = new_product(stack, merchant, category=None)
    push(merchant.id, [product["id"]])
    bc_id = binding(merchant.id, product["id"]).bc_product_id
    assert bc_product(stack, "rules2", bc_id)["categories"] == [default]


def test_no_category_at_all_asks_for_a_default_category(stack, shop):
    product = new_product(stack, shop, category=None)
    push(shop.id, [product["id"]])
    bound = binding(shop.id, product["id"])
    assert bound.error_code == "category_missing"
    assert "Default BigCommerce Category" in bound.error_message


def test_missing_category_with_creation_off_is_a_clear_error(stack):
    merchant = stack.linked_merchant("rules3", create_missing_categories=False)
    product = new_product(stack, merchant, category="Hats > Winter")

    push(merchant.id, [product["id"]])

    bound = binding(merchant.id, product["id"])
    assert bound.sync_state == SyncState.FAILED.value
    assert bound.error_code == "category_not_found"
    assert "Hats > Winter" in bound.error_message
    assert total(writes(stack, "rules3")) == 0


def test_weight_error_fails_only_that_product(stack, shop):
    good1 = new_product(stack, shop)
    bad = new_product(stack, shop, custom_attributes=weight("2 stone"))
    good2 = new_product(stack, shop)

    counts = push(shop.id, [good1["id"], bad["id"], good2["id"]])

    assert counts["created"] == 2 and counts["failed"] == 1
    failed = binding(shop.id, bad["id"])
    assert failed.sync_state == SyncState.FAILED.value
    assert (failed.error_field, failed.error_value) == ("weight", "2 stone")
    assert "2 stone" in failed.error_message and failed.error_retryable is False
    assert failed.attempts == 1 and failed.first_error_at is not None
    assert failed.bc_product_id is None


def test_retry_products_after_fixing_the_weight_in_bindo_succeeds(stack, shop):
    from worker.jobs.catalog import retry_products

    bad = new_product(stack, shop, custom_attributes=weight("heavy"))
    push(shop.id, [bad["id"]])
    stack.bindo.update_product(shop.bindo_store_id, bad["id"], custom_attributes=weight("2 kg"))
    binding_id = binding(shop.id, bad["id"]).id

    counts = retry_products(shop.id, [binding_id])

    assert counts["created"] == 1
    fixed = binding(shop.id, bad["id"])
    assert fixed.sync_state == SyncState.SYNCED.value
    assert fixed.error_code is None and fixed.attempts == 0
    run = db.session.query(SyncRun).filter_by(kind="retry").one()
    assert run.state == "finished"
    assert [i.action for i in db.session.query(SyncRunItem).filter_by(run_id=run.id)] == ["create"]


def test_name_clash_names_the_bigcommerce_product_then_link_product_fixes_it(stack, shop):
    from worker.jobs.catalog import link_product

    existing = make_bc_product(shop, name="Trail Runner", sku="OTHER")
    product = new_product(stack, shop, name="Trail Runner", sku="TR-1")

    push(shop.id, [product["id"]])

    bound = binding(shop.id, product["id"])
    assert bound.error_code == "bc_name_conflict"
    assert f"BigCommerce product {existing}" in bound.error_message
    assert bound.error_detail["conflicting_bc_product_id"] == existing
    assert bound.error_detail["status"] == 409

    result = link_product(shop.id, product["id"], existing, "staff@bindo.test")

    assert result == {"linked": True, "action": "linked"}
    linked = binding(shop.id, product["id"])
    assert linked.bc_product_id == existing and linked.sync_state == SyncState.SYNCED.value
    assert bc_product(stack, "rules1", existing)["sku"] == "TR-1"
    assert len(stack.bc.stores["rules1"].products) == 1


def test_existing_product_with_same_sku_is_linked_not_duplicated(stack, shop):
    existing = make_bc_product(shop, name="Old name", sku="abc-9")
    product = new_product(stack, shop, sku="ABC-9", price="15.00")
    stack.bc.reset_requests()

    counts = push(shop.id, [product["id"]])

    assert counts["linked"] == 1
    assert "POST /v3/catalog/products" not in endpoints(stack, "rules1")
    assert binding(shop.id, product["id"]).bc_product_id == existing
    assert bc_product(stack, "rules1", existing)["price"] == 15.0


def test_existing_product_with_same_upc_is_linked(stack, shop):
    existing = make_bc_product(shop, name="Scanned", upc="012345678905")
    product = new_product(stack, shop, kind="upc", upc="012345678905")

    assert push(shop.id, [product["id"]])["linked"] == 1
    assert binding(shop.id, product["id"]).bc_product_id == existing
    assert len(stack.bc.stores["rules1"].products) == 1


def _set_bindo_images(stack, merchant, product_id, images):
    with stack.bindo.lock:
        stack.bindo.store(merchant.bindo_store_id).products[product_id]["images"] = images


def test_images_managed_by_bindo_follow_bindo_without_reuploads(stack, shop):
    product = new_product(stack, shop, image_count=3)
    push(shop.id, [product["id"]])
    bc_id = binding(shop.id, product["id"]).bc_product_id
    first, second, third = product["images"]
    # Bindo: the first image removed, the last moved to the front.
    _set_bindo_images(
        stack,
        shop,
        product["id"],
        [{"id": third["id"], "position": 1}, {"id": second["id"], "position": 2}],
    )
    stack.bc.reset_requests()

    push(shop.id, [product["id"]])

    calls = endpoints(stack, "rules1")
    assert "POST /v3/catalog/products/{id}/images" not in calls  # nothing uploaded again
    assert calls["DELETE /v3/catalog/products/{id}/images/{image_id}"] == 1
    images = bc_images(stack, "rules1", bc_id)
    assert [i["image_url"].rsplit("/", 1)[1] for i in images] == [
        f"{third['id']}.png",
        f"{second['id']}.png",
    ]
    assert images[0]["is_thumbnail"] is True

    stack.bc.reset_requests()
    stack.bindo.update_product(shop.bindo_store_id, product["id"], price="11.00")
    push(shop.id, [product["id"]])
    assert endpoints(stack, "rules1") == {"PUT /v3/catalog/products": 1}


def test_images_managed_by_bigcommerce_are_sent_only_on_create(stack):
    merchant = stack.linked_merchant("rules4", content_managed_by="bigcommerce")
    make_category(merchant, "Shoes")
    product = new_product(stack, merchant, image_count=2)
    push(merchant.id, [product["id"]])
    bc_id = binding(merchant.id, product["id"]).bc_product_id
    assert len(bc_images(stack, "rules4", bc_id)) == 2
    _set_bindo_images(stack, merchant, product["id"], [])
    stack.bindo.update_product(merchant.bindo_store_id, product["id"], price="12.00")
    stack.bc.reset_requests()

    push(merchant.id, [product["id"]])

    assert endpoints(stack, "rules4") == {"PUT /v3/catalog/products": 1}
    assert len(bc_images(stack, "rules4", bc_id)) == 2


def test_blank_bindo_description_never_wipes_bigcommerce_and_seo_is_untouched(stack, shop):
    product = new_product(stack, shop, description="<p>Light</p>")
    push(shop.id, [product["id"]])
    bc_id = binding(shop.id, product["id"]).bc_product_id
    row = bc_product(stack, "rules1", bc_id)
    row.update(page_title="SEO title", meta_description="SEO text", search_keywords="run")
    stack.bindo.update_product(shop.bindo_store_id, product["id"], description="<p> </p>")

    push(shop.id, [product["id"]])

    row = bc_product(stack, "rules1", bc_id)
    assert row["description"] == "<p>Light</p>"
    assert (row["page_title"], row["meta_description"], row["search_keywords"]) == (
        "SEO title",
        "SEO text",
        "run",
    )


def test_price_edited_in_bigcommerce_is_overwritten_and_our_echo_is_ignored(stack, shop):
    from worker.jobs.catalog import check_bc_products

    product = new_product(stack, shop, price="10.00")
    push(shop.id, [product["id"]])
    bc_id = binding(shop.id, product["id"]).bc_product_id

    stack.bc.reset_requests()
    assert check_bc_products(shop.id, [bc_id])["drift"] == 0  # our own echo
    assert total(writes(stack, "rules1")) == 0

    bc_product(stack, "rules1", bc_id)["price"] = 1.0  # the merchant edits the price
    assert check_bc_products(shop.id, [bc_id])["drift"] == 1
    assert bc_product(stack, "rules1", bc_id)["price"] == 10.0


def test_a_late_event_never_rolls_back(stack, shop):
    product = new_product(stack, shop, price="10.00")
    stack.bindo.update_product(shop.bindo_store_id, product["id"], price="30.00")
    push(shop.id, [product["id"]])
    # The event of the first save arrives last: the job reads Bindo's current state.
    push(shop.id, [product["id"]])
    bc_id = binding(shop.id, product["id"]).bc_product_id
    assert bc_product(stack, "rules1", bc_id)["price"] == 30.0

    # And an old record (e.g. read early by a long full sync) is never pushed over a newer one.
    from worker.sync.catalog.engine import CatalogSync

    merchant = db.session.get(Merchant, shop.id)
    old = {**product, "price": "10.00", "updated_at": "2000-01-01T00:00:00Z"}
    assert CatalogSync(merchant).sync_records([old]).counts()["unchanged"] == 1
    assert bc_product(stack, "rules1", bc_id)["price"] == 30.0


def test_concurrent_pushes_of_one_new_product_create_it_once(stack, shop):
    product = new_product(stack, shop)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            push(shop.id, [product["id"]])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert len(stack.bc.stores["rules1"].products) == 1
    assert endpoints(stack, "rules1").get("POST /v3/catalog/products") == 1


def test_server_error_fails_the_job_for_a_retry_without_duplicates(stack, shop):
    from worker.clients.errors import ServerError

    product = new_product(stack, shop)
    stack.bc.add_fault("500", 1, path_prefix="/v3/catalog/products")

    with pytest.raises(ServerError):
        push(shop.id, [product["id"]])
    failed = binding(shop.id, product["id"])
    assert failed.error_retryable is True and failed.sync_state == SyncState.FAILED.value

    assert push(shop.id, [product["id"]])["created"] == 1  # what RQ's Retry does
    assert len(stack.bc.stores["rules1"].products) == 1


def test_overload_429_is_waited_out_by_the_client(stack, shop):
    product = new_product(stack, shop)
    stack.bc.add_fault("429_no_headers", 1, path_prefix="/v3/catalog/products")

    assert push(shop.id, [product["id"]])["created"] == 1
    assert len(stack.bc.stores["rules1"].products) == 1
    assert stack.bc.request_summary("rules1")["status_counts"]["429"] == 1


def test_revoked_token_marks_the_merchant_for_reauth_and_stops(stack, shop):
    product = new_product(stack, shop)
    stack.bc.revoke_token("rules1")

    push(shop.id, [product["id"]])

    db.session.expire_all()
    assert db.session.get(Merchant, shop.id).state == "needs_reauth"
    assert db.session.query(Alert).filter_by(kind="token_revoked").count() == 1


def test_settings_change_resends_every_product_once(stack, shop):
    from worker.jobs.catalog import settings_changed

    ids = [new_product(stack, shop)["id"] for _ in range(3)]
    push(shop.id, ids)
    merchant = db.session.get(Merchant, shop.id)
    merchant.allow_out_of_stock_orders = True
    db.session.commit()
    stack.bc.reset_requests()

    counts = settings_changed(shop.id)

    assert counts["updated"] == 3
    assert writes(stack, "rules1") == {"PUT /v3/catalog/products": 1}
    assert all(
        p["inventory_tracking"] == "none" for p in stack.bc.stores["rules1"].products.values()
    )


def test_reconcile_pushes_bindo_changes_and_repairs_drift(stack, shop, monkeypatch):
    from worker.jobs import catalog as jobs

    ids = [new_product(stack, shop, price="10.00")["id"] for _ in range(3)]
    run = SyncRun(merchant_id=shop.id, kind="initial")
    db.session.add(run)
    db.session.commit()
    jobs.full_sync(run.id)
    bc_ids = [binding(shop.id, i).bc_product_id for i in ids]
    for bc_id in bc_ids[:2]:
        bc_product(stack, "rules1", bc_id)["price"] = 1.0
    stack.bindo.update_product(shop.bindo_store_id, ids[2], price="50.00")
    monkeypatch.setattr(jobs, "DRIFT_ALERT_THRESHOLD", 1)

    counts = jobs.reconcile(shop.id)

    assert counts["drift"] == 2
    prices = [bc_product(stack, "rules1", b)["price"] for b in bc_ids]
    assert prices == [10.0, 10.0, 50.0]
    db.session.expire_all()
    merchant = db.session.get(Merchant, shop.id)
    assert merchant.last_drift_count == 2 and merchant.last_reconciled_at is not None
    recon = db.session.query(SyncRun).filter_by(kind="reconcile").one()
    assert (recon.state, recon.drift) == ("finished", 2)
    assert db.session.query(Alert).filter_by(kind="reconcile_drift").count() == 1


def test_dry_run_decides_without_writing(stack, shop):
    from worker.jobs.catalog import dry_run

    make_bc_product(shop, name="Has sku", sku="D-1")
    make_bc_product(shop, name="Has upc", upc="012345678905")
    new_product(stack, shop, sku="D-1")
    new_product(stack, shop, kind="upc", upc="012345678905")
    new_product(stack, shop, sku="D-NEW")
    new_product(stack, shop, in_store_only=True)
    new_product(stack, shop, custom_attributes=weight("lots"))
    new_product(stack, shop, category="Brand new")
    run = SyncRun(merchant_id=shop.id, kind="dry_run")
    db.session.add(run)
    db.session.commit()
    stack.bc.reset_requests()

    counts = dry_run(run.id)

    assert counts["to_link_sku"] == 1 and counts["to_link_upc"] == 1
    assert counts["to_create"] == 2 and counts["skipped"] == 1 and counts["errors"] == 1
    assert counts["categories_to_create"] == 1
    assert total(writes(stack, "rules1")) == 0
    assert db.session.query(ProductBinding).count() == 0
    assert db.session.query(SyncRunItem).filter_by(run_id=run.id).count() == 7


def test_webhook_handlers_are_registered_and_coalesce_per_product(stack, shop):
    from portal.models import JobRecord, WebhookEvent
    from worker.inbox import handler_for
    from worker.sync.catalog import handlers as catalog

    for scope in ("product.created", "product.updated", "product.deleted"):
        assert handler_for("bindo", scope) is catalog.on_bindo_product_event
    assert handler_for("bigcommerce", "store/product/updated") is (
        catalog.on_bigcommerce_product_updated
    )
    event = WebhookEvent(
        source="bindo",
        event_key="e1",
        merchant_id=shop.id,
        scope="product.updated",
        payload={"data": {"product_id": 42}},
    )
    catalog.on_bindo_product_event(event, shop)
    catalog.on_bindo_product_event(event, shop)
    jobs = db.session.query(JobRecord).filter_by(func=catalog.PUSH_JOB).all()
    # One run of the logical job (coalesced); each run's RQ id is the job id plus a suffix.
    assert [j.job_id.rsplit("-", 1)[0] for j in jobs] == ["push-product-rules1-42"]


def test_periodic_check_enqueues_one_reconcile_per_window(stack, shop):
    from portal.models import JobRecord
    from worker.sync.catalog.handlers import RECONCILE_JOB, enqueue_due_catalog_reconciles

    enqueue_due_catalog_reconciles()
    enqueue_due_catalog_reconciles()

    jobs = db.session.query(JobRecord).filter_by(func=RECONCILE_JOB).all()
    assert len(jobs) == 1 and jobs[0].job_id.startswith("reconcile-rules1-")


def test_a_new_product_gets_its_bindo_stock_pushed_right_after_creation(stack, shop, redis_conn):
    from worker.jobs.stock import push_stock
    from worker.sync.stock import pending_key

    product = new_product(stack, shop, stock={10: 7})

    counts = push(shop.id, [product["id"]])

    assert counts["created"] == 1
    # The stock push is requested at once (debounced job), not left for the reconciliation.
    pending = {int(i) for i in redis_conn.smembers(pending_key(shop.id))}
    assert pending == {product["id"]}
    push_stock(shop.id, [product["id"]])
    bc_id = binding(shop.id, product["id"]).bc_product_id
    assert bc_product(stack, "rules1", bc_id)["inventory_level"] == 7


def test_dry_run_previews_a_store_before_activation(stack):
    """Staff preview what the first sync will do before they activate the merchant."""
    from worker.jobs.catalog import dry_run

    merchant = stack.linked_merchant("preview1", active=False)
    new_product(stack, merchant, sku="P-1", category="Shoes")
    new_product(stack, merchant, sku="P-2", custom_attributes=weight("2 stone"))
    run = SyncRun(merchant_id=merchant.id, kind="dry_run")
    db.session.add(run)
    db.session.commit()

    counts = dry_run(run.id)

    db.session.expire_all()
    assert db.session.get(SyncRun, run.id).state == "finished"
    assert counts["to_create"] == 1 and counts["errors"] == 1
    assert total(writes(stack, "preview1")) == 0
    assert db.session.get(Merchant, merchant.id).state == "installed"


def test_dry_run_refuses_a_store_without_a_bindo_link(stack):
    from worker.jobs.catalog import dry_run

    merchant = stack.linked_merchant("preview2", active=False)
    merchant.bindo_store_id = None
    db.session.commit()
    run = SyncRun(merchant_id=merchant.id, kind="dry_run")
    db.session.add(run)
    db.session.commit()

    assert dry_run(run.id) == {}
    db.session.expire_all()
    failed = db.session.get(SyncRun, run.id)
    assert failed.state == "failed" and "Bindo link" in failed.error
