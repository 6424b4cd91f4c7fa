"""The sync errors page: failed products only, the plain error, and retry/link actions that
enqueue catalog jobs (support and admin) with a flash saying what was enqueued."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import AuditLog, JobRecord, ProductBinding, utcnow
from portal.queue import get_queue
from tests.admin.conftest import add_failed, add_merchant
from tests.conftest import csrf_token

RETRY = "worker.jobs.catalog.retry_products"
LINK = "worker.jobs.catalog.link_product"


@pytest.fixture
def failing(app):
    one, two = add_merchant("one"), add_merchant("two")
    rows = [add_failed(one, 1), add_failed(one, 2), add_failed(two, 3, error_code="sku_taken")]
    db.session.add(
        ProductBinding(
            merchant_id=one.id, bindo_product_id=9, name="Fine product", sync_state="synced"
        )
    )
    db.session.commit()
    return {"one": one, "two": two, "rows": rows}


def listing(client, **params) -> str:
    response = client.get("/admin/sync-errors/", query_string=params)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def act(client, url: str, **data):
    page = client.get("/admin/sync-errors/").get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(page), **data}, follow_redirects=True)


def test_only_failed_products_are_listed_with_their_plain_error(as_role, failing):
    html = listing(as_role("viewer"))
    assert "Product 1" in html and "Product 3" in html and "Fine product" not in html
    assert "The weight &#39;2 stone&#39; could not be read" in html
    assert "HTTP 422" in html and "<dt>weight</dt>" in html and "must be a number" in html


def test_filters_by_merchant_kind_age_and_retryable(as_role, failing):
    client = as_role("viewer")
    old = failing["rows"][0]
    old.last_error_at = utcnow() - timedelta(days=10)
    db.session.commit()
    by_merchant = listing(client, flt0_0=failing["two"].id)
    assert "Product 3" in by_merchant and "Product 1" not in by_merchant
    html = listing(client)
    assert "Kind" in html and "Age" in html and "Error Retryable" in html
    view = next(
        v
        for v in client.application.extensions["portal_admin"]._views
        if v.endpoint == "sync_errors"
    )
    index = {f.operation(): i for i, f in enumerate(view._filters) if f.name == "Age"}
    aged = listing(client, **{f"flt0_{index['older than']}": "7"})
    assert "Product 1" in aged and "Product 2" not in aged
    kind = next(
        i for i, f in enumerate(view._filters) if f.name == "Kind" and f.operation() == "equals"
    )
    assert "Product 3" in listing(client, **{f"flt0_{kind}": "sku_taken"})
    assert "Product 1" not in listing(client, **{f"flt0_{kind}": "sku_taken"})


def test_retry_selected_enqueues_one_job_per_merchant_and_says_so(
    as_role, failing, app, monkeypatch
):
    monkeypatch.setitem(app.config, "RQ_QUEUE_PREFIX", "admin-errs-")
    rows = failing["rows"]
    response = act(
        as_role("support"),
        "/admin/sync-errors/action/",
        action="retry",
        rowid=[str(r.id) for r in rows],
    )
    html = response.get_data(as_text=True)
    assert "Retry enqueued for 3 product(s): 2 of Store one, 1 of Store two." in html
    jobs = {tuple(r.args[:1]): r for r in db.session.query(JobRecord).filter_by(func=RETRY)}
    assert jobs[(failing["one"].id,)].args == [failing["one"].id, [rows[0].id, rows[1].id]]
    assert jobs[(failing["two"].id,)].args == [failing["two"].id, [rows[2].id]]
    assert {r.merchant_id for r in jobs.values()} == {failing["one"].id, failing["two"].id}
    assert get_queue("default").count == 2  # the job reached Redis after its row was committed
    assert db.session.query(AuditLog).filter_by(action="sync.retry_requested").count() == 2


def test_retry_all_failed_of_one_merchant(as_role, failing):
    response = act(as_role("support"), f"/admin/sync-errors/retry-merchant/{failing['one'].id}")
    assert "Retry enqueued for 2 product(s): 2 of Store one." in response.get_data(as_text=True)
    (job,) = db.session.query(JobRecord).filter_by(func=RETRY).all()
    assert job.args == [failing["one"].id, [r.id for r in failing["rows"][:2]]]


def test_retry_with_nothing_failed_selected_enqueues_nothing(as_role, failing):
    synced = db.session.query(ProductBinding).filter_by(sync_state="synced").one()
    response = act(
        as_role("support"), "/admin/sync-errors/action/", action="retry", rowid=[str(synced.id)]
    )
    assert "nothing was enqueued" in response.get_data(as_text=True)
    assert db.session.query(JobRecord).count() == 0


def test_link_to_a_bigcommerce_product_enqueues_link_product_with_the_actor(as_role, failing):
    row = failing["rows"][0]
    response = act(as_role("support"), f"/admin/sync-errors/link/{row.id}", bc_product_id="4242")
    assert "Link queued: Bindo #1 of Store one to BC #4242." in (response.get_data(as_text=True))
    (job,) = db.session.query(JobRecord).filter_by(func=LINK).all()
    assert job.args == [failing["one"].id, 1, 4242, "support@bindo.test"]


@pytest.mark.parametrize("value", ["", "abc", "-3", "0", "1.5"])
def test_link_needs_a_whole_positive_product_id(as_role, failing, value):
    row = failing["rows"][0]
    response = act(as_role("support"), f"/admin/sync-errors/link/{row.id}", bc_product_id=value)
    assert "Enter the BigCommerce product id" in response.get_data(as_text=True)
    assert db.session.query(JobRecord).count() == 0


def test_viewer_sees_no_action_controls_and_is_refused(as_role, failing):
    client = as_role("viewer")
    html = listing(client)
    assert "Retry all" not in html and "link-form" not in html and "Retry selected" not in html
    row = failing["rows"][0]
    token = csrf_token(client.get("/login").get_data(as_text=True))
    for url, data in [
        ("/admin/sync-errors/action/", {"action": "retry", "rowid": [str(row.id)]}),
        (f"/admin/sync-errors/retry-merchant/{failing['one'].id}", {}),
        (f"/admin/sync-errors/link/{row.id}", {"bc_product_id": "5"}),
    ]:
        assert client.post(url, data={"csrf_token": token, **data}).status_code == 403
    assert db.session.query(JobRecord).count() == 0


def test_support_sees_the_action_controls(as_role, failing):
    html = listing(as_role("support"))
    assert "Retry all 2 failed of Store one" in html and "link-form" in html
    assert "Retry selected" in html
