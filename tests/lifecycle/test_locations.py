"""Multi-location set-up by staff (sum or map mode, buffer), from both stores' own lists, which
a worker job reads from the simulators over HTTP; and the stored category list."""

from __future__ import annotations

import re

import requests
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog, CategoryCache, merchant_by_hash
from tests.conftest import csrf_token, login, make_staff
from tests.lifecycle.conftest import BINDO_STORE, STORE, link_bindo, make_merchant
from worker.sync import store_lists

ADDRESS = {
    "address1": "1 Mall Rd",
    "city": "Austin",
    "state": "TX",
    "zip": "73301",
    "email": "mall@example.com",
    "geo_coordinates": {"latitude": 30.2, "longitude": -97.7},
    "country_code": "US",
}


def page_url(merchant) -> str:
    return f"/admin/merchants/{merchant.id}/locations"


def signed_in(client, role: str = "support"):
    make_staff(f"{role}@bindo.test", role=role)
    assert login(client, f"{role}@bindo.test").status_code == 302
    return client


def installed_with_lists(client, sim, bindo):
    """A store installed in the BigCommerce simulator, linked to a Bindo store with two
    locations, and a second BigCommerce location made through POST /v3/inventory/locations."""
    client.get(sim.install_path())
    merchant = merchant_by_hash(STORE)
    link_bindo(merchant)
    requests.post(
        f"{bindo}/_sim/stores",
        json={
            "store_id": BINDO_STORE,
            "token": merchant.bindo_token,
            "webhook_secret": "s",
            "locations": [{"id": 11, "name": "Main"}, {"id": 12, "name": "Warehouse"}],
        },
        timeout=5,
    ).raise_for_status()
    token = sim.state.stores[STORE].access_token
    created = requests.post(
        f"{sim.url}/stores/{STORE}/v3/inventory/locations",
        json=[{"code": "MALL", "label": "Mall", "address": ADDRESS}],
        headers={"X-Auth-Token": token},
        timeout=5,
    )
    assert created.status_code == 200, created.text
    return merchant


def test_the_lists_come_from_both_stores_and_a_complete_map_is_saved_and_audited(
    client, sim, bindo, redis_conn
):
    merchant = installed_with_lists(client, sim, bindo)
    signed_in(client)
    page = client.get(page_url(merchant)).get_data(as_text=True)
    assert "have not been read yet" in page
    client.post(f"{page_url(merchant)}/refresh", data={"csrf_token": csrf_token(page)})
    jobs = Queue("default", connection=redis_conn, serializer=JSONSerializer).get_jobs()
    assert "worker.jobs.store_lists.refresh_locations" in [j.func_name for j in jobs]
    store_lists.refresh_locations(merchant)  # what the job does, through the real clients
    page = client.get(page_url(merchant)).get_data(as_text=True)
    assert "Bindo #11 Main" in page and "Bindo #12 Warehouse" in page
    assert "BC location #1 Default location" in page and "BC location #2 Mall" in page

    token = csrf_token(page)
    incomplete = {
        "csrf_token": token,
        "bindo_location": ["11", "12"],
        "mode": "map",
        "map_11": "1",
        "bc_location_id": "1",
        "safety_buffer": "2",
    }
    refused = client.post(page_url(merchant), data=incomplete)
    assert refused.status_code == 400
    assert "Map Bindo location 12 to a BigCommerce location" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert merchant_by_hash(STORE).bindo_location_ids == [11]

    complete = {**incomplete, "map_12": "2"}
    assert client.post(page_url(merchant), data=complete).status_code == 302
    db.session.expire_all()
    saved = merchant_by_hash(STORE)
    assert saved.bindo_location_ids == [11, 12]
    assert (saved.location_mode, saved.location_map) == ("map", {"11": 1, "12": 2})
    assert (saved.bc_location_id, saved.safety_buffer) == (1, 2)
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "merchant.locations_changed"))
    assert row.actor == "support@bindo.test"
    assert row.detail["changes"]["location_map"] == [{}, {"11": 1, "12": 2}]
    page = client.get(page_url(merchant)).get_data(as_text=True)
    assert "Every linked Bindo location is published." in page
    manage = client.get(f"/admin/merchants/{merchant.id}/manage").get_data(as_text=True)
    summary = " ".join(re.search(r'id="locations-summary">(.*?)</p>', manage, re.S)[1].split())
    assert "map mode, Bindo #11 → BC #1, #12 → BC #2; safety buffer 2." in summary


def test_a_location_outside_the_stores_lists_is_refused(client, app):
    merchant = make_merchant(state="active")
    link_bindo(merchant)
    merchant.known_locations = {
        "bindo": [{"id": 11, "name": "Main"}],
        "bigcommerce": [{"id": 1, "label": "Default location", "enabled": True}],
    }
    db.session.commit()
    signed_in(client)
    token = csrf_token(client.get(page_url(merchant)).get_data(as_text=True))
    answer = client.post(
        page_url(merchant),
        data={
            "csrf_token": token,
            "bindo_location": ["11", "99"],
            "mode": "sum",
            "bc_location_id": "7",
            "safety_buffer": "-1",
        },
    )
    text = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert "Bindo location 99 is not in the Bindo store" in text
    assert "BigCommerce location 7 is not in the store" in text
    assert "safety buffer must be a whole number" in text


def test_sum_mode_with_a_buffer_saves_and_republishes_stock(client, app, redis_conn):
    merchant = make_merchant(state="active")
    link_bindo(merchant)
    merchant.known_locations = {
        "bindo": [{"id": 11, "name": "Main"}, {"id": 12, "name": "Mall"}],
        "bigcommerce": [{"id": 1, "label": "Default location", "enabled": True}],
    }
    db.session.commit()
    signed_in(client)
    token = csrf_token(client.get(page_url(merchant)).get_data(as_text=True))
    data = {
        "csrf_token": token,
        "bindo_location": ["11", "12"],
        "mode": "sum",
        "bc_location_id": "1",
        "safety_buffer": "3",
    }
    assert client.post(page_url(merchant), data=data).status_code == 302
    db.session.expire_all()
    saved = merchant_by_hash(STORE)
    assert (saved.bindo_location_ids, saved.location_mode, saved.safety_buffer) == (
        [11, 12],
        "sum",
        3,
    )
    (job,) = Queue("low", connection=redis_conn, serializer=JSONSerializer).get_jobs()
    assert job.func_name == "worker.jobs.stock.stock_reconcile"


def test_viewers_see_the_page_but_cannot_save(client, app):
    merchant = make_merchant(state="active")
    signed_in(client, "viewer")
    page = client.get(page_url(merchant))
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))
    answer = client.post(page_url(merchant), data={"csrf_token": token, "mode": "sum"})
    assert answer.status_code == 403


def test_the_category_list_is_stored_with_labels_and_follows_the_store(client, sim):
    client.get(sim.install_path())
    merchant = merchant_by_hash(STORE)
    token = sim.state.stores[STORE].access_token
    url = f"{sim.url}/stores/{STORE}/v3/catalog/trees/categories"
    headers = {"X-Auth-Token": token}
    made = requests.post(url, json=[{"name": "Shoes", "tree_id": 1}], headers=headers, timeout=5)
    shoes = made.json()["data"][0]["category_id"]
    requests.post(
        url, json=[{"name": "Running", "parent_id": shoes}], headers=headers, timeout=5
    ).raise_for_status()
    db.session.add(CategoryCache(merchant_id=merchant.id, path_key="gone", bc_category_id=999))
    db.session.commit()
    counts = store_lists.refresh_categories(merchant)
    assert counts["dropped"] == 1
    labels = set(
        db.session.scalars(
            select(CategoryCache.label).where(CategoryCache.merchant_id == merchant.id)
        )
    )
    assert {"Shoes", "Shoes / Running"} <= labels
    assert merchant.categories_refreshed_at is not None


def test_re_saving_the_link_keeps_a_multi_location_set_up(client, app):
    from portal import lifecycle

    merchant = make_merchant(state="active")
    link_bindo(merchant)
    merchant.bindo_location_ids, merchant.location_mode = [11, 12], "map"
    merchant.location_map = {"11": 1, "12": 2}
    db.session.commit()
    lifecycle.link_bindo(
        merchant, "staff@bindo.test", store_id=BINDO_STORE, location_id=12, token="rotated-token"
    )
    assert merchant.bindo_location_ids == [11, 12]
    lifecycle.link_bindo(merchant, "staff@bindo.test", store_id=BINDO_STORE, location_id=13)
    assert merchant.bindo_location_ids == [13]
