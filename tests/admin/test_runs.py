"""Sync runs: the list, the JSON progress with an ETA from the rate so far, and the polling
script on the run page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.admin.runs import eta_seconds
from portal.extensions import db
from portal.models import SyncRun, SyncRunItem, utcnow
from tests.admin.conftest import add_merchant


def make_run(**fields) -> SyncRun:
    merchant = add_merchant(fields.pop("store_hash", "runs"))
    run = SyncRun(merchant_id=merchant.id, kind=fields.pop("kind", "initial"), **fields)
    db.session.add(run)
    db.session.commit()
    return run


def test_progress_reports_done_total_and_an_eta_from_the_rate_so_far(as_role):
    viewer = as_role("viewer")  # signing in (argon2) first: its seconds must not age the run
    run = make_run(state="running", total=100, done=25, started_at=utcnow() - timedelta(seconds=60))
    data = viewer.get(f"/admin/runs/{run.id}/progress").get_json()
    assert data["state"] == "running" and data["done"] == 25 and data["total"] == 100
    assert 175 <= data["eta_seconds"] <= 185  # 75 left at 25 per minute


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"state": "queued", "total": 0, "done": 0}, None),
        ({"state": "running", "total": 50, "done": 0, "started_offset": 10}, None),
        ({"state": "finished", "total": 50, "done": 50, "started_offset": 10}, 0),
        ({"state": "running", "total": 10, "done": 5, "started_offset": 10}, 10),
    ],
)
def test_eta_is_unknown_before_any_progress_and_zero_once_finished(app, fields, expected):
    offset = fields.pop("started_offset", None)
    now = utcnow()
    run = SyncRun(merchant_id=1, kind="full", **fields)
    run.started_at = now - timedelta(seconds=offset) if offset else None
    assert eta_seconds(run, now) == expected


def test_progress_of_an_unknown_run_is_404(as_role):
    assert as_role("viewer").get("/admin/runs/999/progress").status_code == 404


def test_run_list_shows_merchant_kind_state_progress_counts_and_drift(as_role):
    make_run(
        state="finished",
        total=12,
        done=12,
        counts={"create": 10, "error": 2},
        drift=3,
        kind="reconcile",
        started_at=utcnow(),
        finished_at=utcnow(),
    )
    html = as_role("viewer").get("/admin/runs/").get_data(as_text=True)
    for text in ("Store runs", "Reconciliation", "finished", "12 of 12", "create 10, error 2"):
        assert text in html


def test_run_page_polls_its_progress_every_two_seconds(as_role):
    run = make_run(state="running", total=40, done=10, started_at=utcnow() - timedelta(minutes=1))
    db.session.add(SyncRunItem(run_id=run.id, bindo_product_id=7, action="create", message="ok"))
    db.session.commit()
    html = as_role("viewer").get(f"/admin/runs/details/?id={run.id}").get_data(as_text=True)
    assert f'data-url="/admin/runs/{run.id}/progress"' in html
    assert "setTimeout(poll, 2000)" in html
    assert ">10 of 40 (25 %), about 3 min left<" in html
    assert "Bindo #7</span></td><td>create</td>" in html
