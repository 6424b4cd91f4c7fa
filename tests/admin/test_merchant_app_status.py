"""The merchant's own read-only status on the app page (/app, inside BigCommerce): connection
in plain words, last sync, counts, failing products with their fix, recent orders; never
another store's rows. (Lives here because it is part of the portal-experience work; it reuses
the lifecycle helpers that open an app session.)"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.models import ImportedOrder, ProductBinding, SyncRun, utcnow
from tests.lifecycle.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_STORE,
    STORE,
    make_merchant,
    open_app,
)

STONE = "Weight '2 stone' not understood: use lb, oz, g or kg"


@pytest.fixture(autouse=True)
def _offline(app, monkeypatch):
    """Sign callbacks like the lifecycle tests."""
    monkeypatch.setitem(app.config, "BIGCOMMERCE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setitem(app.config, "BIGCOMMERCE_CLIENT_SECRET", CLIENT_SECRET)


def count(page: str, which: str) -> int:
    """A figure of the status block (the products' current states)."""
    return int(re.search(rf'id="count-{which}"><div class="figure">(\d+)<', page).group(1))


def failing(merchant, bindo_id: int, name: str, message: str, **fields) -> ProductBinding:
    row = ProductBinding(
        merchant_id=merchant.id,
        bindo_product_id=bindo_id,
        name=name,
        sku=f"SKU-{bindo_id}",
        sync_state="failed",
        error_message=message,
        last_error_at=fields.pop("last_error_at", utcnow()),
        **fields,
    )
    db.session.add(row)
    return row


def app_page(client, store: str = STORE) -> str:
    open_app(client, store)
    response = client.get("/app")
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("active", "Connected: products, stock and orders are syncing."),
        ("paused", "Paused by Bindo: nothing is syncing until it resumes."),
        ("installed", "Installed: waiting for Bindo to activate the integration."),
    ],
)
def test_connection_state_in_plain_words(client, app, state, words):
    make_merchant(state=state, activated_at=utcnow() if state != "installed" else None)
    page = app_page(client)
    assert f"<strong>Connection:</strong> {words}" in page


def test_last_sync_says_when_the_last_finished_run_ended_and_not_its_stale_counts(client, app):
    merchant = make_merchant(state="active", activated_at=utcnow())
    finished_at = utcnow() - timedelta(hours=1)
    done = SyncRun(
        merchant_id=merchant.id,
        kind="full",
        state="finished",
        total=12,
        done=12,
        counts={"created": 9, "updated": 3, "failed": 0},
        finished_at=finished_at,
    )
    dry = SyncRun(merchant_id=merchant.id, kind="dry_run", state="finished", finished_at=utcnow())
    running = SyncRun(merchant_id=merchant.id, kind="reconcile", state="running")
    db.session.add_all([done, dry, running])
    db.session.commit()
    page = app_page(client)
    last = re.search(r'id="last-sync">(.*?)</p>', page, re.S).group(1)
    assert f"/app/runs/{done.id}" in last
    assert finished_at.strftime("%Y-%m-%d %H:%M UTC") in last
    assert "finished 1 h ago" in " ".join(last.split())
    # The run's own counts went stale with the next webhook: the figures are the products'.
    assert "created 9" not in last and "as they are now" in last
    running_block = re.search(r'id="running-sync">(.*?)</div>', page, re.S).group(1)
    assert f"/app/runs/{running.id}" in running_block  # the run in progress is linked too


def test_failing_products_show_their_plain_language_fix_escaped(client, app):
    merchant = make_merchant(state="active", activated_at=utcnow())
    failing(merchant, 1, "Garden stone", STONE)
    failing(merchant, 2, "<script>alert(1)</script>", "Price '<b>' is not a number")
    db.session.add(ProductBinding(merchant_id=merchant.id, bindo_product_id=3, sync_state="synced"))
    db.session.commit()
    page = app_page(client)
    table = re.search(r'id="failing-products">(.*?)</table>', page, re.S).group(1)
    assert "Garden stone" in table and "Weight &#39;2 stone&#39; not understood" in table
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table and "<script>" not in table
    assert count(page, "failing") == 2 and count(page, "synced") == 1
    assert 'id="failing-badge">2 failing<' in page  # the red count beside the title


def test_failing_products_are_capped_at_50_most_recent_first(client, app):
    merchant = make_merchant(state="active", activated_at=utcnow())
    start = utcnow() - timedelta(days=1)
    for n in range(60):
        failing(merchant, n, f"Product {n:02d}", STONE, last_error_at=start + timedelta(minutes=n))
    db.session.commit()
    page = app_page(client)
    names = re.findall(r"<td>Product (\d\d)</td>", page)
    assert len(names) == 50 and names[0] == "59" and names[-1] == "10"
    assert "Showing the 50 most recent of 60 failing products." in page


def test_failing_products_of_another_store_are_not_shown(client, app):
    mine = make_merchant(state="active", activated_at=utcnow())
    theirs = make_merchant(OTHER_STORE, state="active", activated_at=utcnow())
    failing(mine, 1, "My own mug", "Price missing: set a price in Bindo")
    failing(theirs, 1, "Their secret teapot", "THEIR-ERROR-MESSAGE")
    db.session.commit()
    page = app_page(client)
    assert "My own mug" in page
    assert "Their secret teapot" not in page and "THEIR-ERROR-MESSAGE" not in page
    assert count(page, "failing") == 1
    other = app_page(client, OTHER_STORE)
    assert "Their secret teapot" in other and "My own mug" not in other


def test_recent_orders_show_the_last_20_with_bindo_id_state_and_flags(client, app):
    merchant = make_merchant(state="active", activated_at=utcnow())
    theirs = make_merchant(OTHER_STORE, state="active", activated_at=utcnow())
    for n in range(25):
        db.session.add(
            ImportedOrder(
                merchant_id=merchant.id,
                bc_order_id=5000 + n,
                bindo_order_id=8000 + n,
                state="imported",
                flags=["oversold"] if n == 24 else [],
            )
        )
    db.session.add(ImportedOrder(merchant_id=theirs.id, bc_order_id=99123))
    db.session.commit()
    page = app_page(client)
    table = re.search(r'id="recent-orders">(.*?)</table>', page, re.S).group(1)
    orders = re.findall(r">#(\d+)</a>", table)
    assert len(orders) == 20 and orders[0] == "5024" and orders[-1] == "5005"
    assert re.search(r"<td>8024</td>\s*<td><span[^>]*>Imported</span>", table)
    assert "oversold" in table
    assert "99123" not in page


def test_no_failing_products_means_no_red_count(client, app):
    merchant = make_merchant(state="active", activated_at=utcnow())
    db.session.add(ProductBinding(merchant_id=merchant.id, bindo_product_id=1, sync_state="synced"))
    db.session.commit()
    page = app_page(client)
    assert count(page, "failing") == 0
    assert "failing-badge" not in page and 'class="stat danger"' not in page
    assert "No product is failing." in page


def test_failing_products_carry_no_staff_only_instructions(client, app):
    merchant = make_merchant(state="active", activated_at=utcnow())
    failing(
        merchant,
        7,
        "Blue mug",
        "Bindo product 7: BigCommerce already has a product named 'Blue mug' (BigCommerce "
        "product 35) that is not linked to this Bindo product. If it is the same product, link "
        "them in the admin (Link to BigCommerce product 35); otherwise rename it in Bindo.",
        error_code="bc_name_conflict",
        error_value="Blue mug",
    )
    failing(
        merchant, 8, "Teapot", "Bindo product 8: BigCommerce answered 503", error_retryable=True
    )
    db.session.commit()
    table = re.search(r'id="failing-products">(.*?)</table>', app_page(client), re.S).group(1)
    assert "admin" not in table and "Link to" not in table
    assert "ask Bindo support to link the two" in table
    assert "retried automatically" in table and "503" not in table


def test_the_out_of_stock_setting_is_explained_in_one_line(client, app):
    make_merchant(state="active", activated_at=utcnow())
    page = app_page(client)
    line = re.search(r'id="oos-explained">(.*?)</p>', page, re.S).group(1)
    assert "stock tracking" in line and "Bindo still lowers its stock" in line
