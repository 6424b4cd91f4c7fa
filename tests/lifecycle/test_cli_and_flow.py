"""The CLI commands, and the whole path over HTTP: install, load, configure, activate, uninstall."""

from __future__ import annotations

from rq import Queue
from rq.serializers import JSONSerializer

from portal.extensions import db
from portal.models import merchant_by_hash
from tests.conftest import csrf_token, login, make_staff
from tests.lifecycle.conftest import BINDO_SECRET, BINDO_TOKEN, STORE, link_bindo, make_merchant
from worker import runtime
from worker.jobs import lifecycle as jobs
from worker.lifecycle import BC_SCOPES


def test_cli_activate_enqueues_and_pause_resume_change_state(app, redis_conn):
    merchant = make_merchant()
    link_bindo(merchant)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["merchants", "activate", STORE])
    assert result.exit_code == 0, result.output
    assert "queued as job activate-" in result.output
    (job,) = Queue("default", connection=redis_conn, serializer=JSONSerializer).get_jobs()
    assert job.func_name == "worker.jobs.lifecycle.activate_merchant"
    pause = ["merchants", "pause", STORE, "--reason", "Stock count on Monday"]
    assert runner.invoke(args=pause).exit_code == 1  # not active yet
    merchant.state = "active"
    db.session.commit()
    assert runner.invoke(args=pause[:3]).exit_code == 2  # the reason is required
    assert runner.invoke(args=pause).exit_code == 0
    db.session.expire_all()
    assert merchant_by_hash(STORE).state == "paused"
    assert merchant_by_hash(STORE).pause_reason == "Stock count on Monday"
    result = runner.invoke(args=["merchants", "resume", STORE])
    assert result.exit_code == 0 and "full sync run" in result.output
    db.session.expire_all()
    assert merchant_by_hash(STORE).state == "active"


def test_cli_refuses_unknown_stores_and_incomplete_links(app):
    runner = app.test_cli_runner()
    assert "no merchant" in runner.invoke(args=["merchants", "activate", "nope"]).output
    make_merchant()
    result = runner.invoke(args=["merchants", "activate", STORE])
    assert result.exit_code == 1 and "Bindo link is incomplete" in result.output


def test_whole_lifecycle_over_http(client, sim, bindo, app):
    runtime.set_app(app)
    # 1. The merchant installs from BigCommerce: code exchanged against the login service.
    assert client.get(sim.install_path()).status_code == 303
    assert "Bindo has been notified" in client.get("/app").get_data(as_text=True)
    merchant = merchant_by_hash(STORE)
    # 2. Staff link the Bindo store and activate (the job runs in-process here).
    make_staff("support@bindo.test", role="support")
    staff = app.test_client()
    login(staff, "support@bindo.test")
    page = staff.get(f"/admin/merchants/{merchant.id}/manage").get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(page),
        "bindo_store_id": "bindo-store-1",
        "location_id": "11",
        "bindo_token": BINDO_TOKEN,
        "webhook_secret": BINDO_SECRET,
    }
    assert staff.post(f"/admin/merchants/{merchant.id}/link", data=data).status_code == 302
    assert (
        staff.post(
            f"/admin/merchants/{merchant.id}/activate", data={"csrf_token": data["csrf_token"]}
        ).status_code
        == 302
    )
    assert jobs.activate_merchant(merchant.id, "support@bindo.test")["state"] == "active"
    # 3. The merchant opens the app again (load) and sees the sync status.
    assert client.get(sim.load_path()).status_code == 303
    assert "Sync status" in client.get("/app").get_data(as_text=True)
    assert len(sim.state.stores[STORE].hooks) == len(BC_SCOPES)  # refund/created included
    # 4. Uninstall: the simulator calls our served portal server-to-server.
    db.session.remove()
    outcome = sim.state.uninstall(STORE)
    assert outcome["status"] == 200
    merchant = merchant_by_hash(STORE)
    assert merchant.state == "uninstalled" and merchant.access_token_enc is None
    assert client.get("/app").status_code == 401


def test_probe_prints_a_read_only_report_without_the_token(client, sim, app):
    # Issue 15 item 10: `flask bigcommerce probe STORE_HASH` on the go-live day.
    assert client.get(sim.install_path()).status_code == 303
    sim.state.reset_requests()
    result = app.test_cli_runner().invoke(args=["bigcommerce", "probe", STORE])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "weight_units: KGS" in out
    assert "tree 1" in out and "location 1" in out
    assert "channel 1" in out and "channel 2" in out
    assert "X-Rate-Limit-Requests-Left: " in out and "absent" not in out.split("Rate-limit")[1]
    assert "store_v2_default" in out  # the granted scopes, extras included
    token = sim.state.stores[STORE].access_token
    assert token not in out
    methods = {key.split()[0] for key in sim.state.request_summary(STORE)["by_endpoint"]}
    assert methods == {"GET"}
    unknown = app.test_cli_runner().invoke(args=["bigcommerce", "probe", "nope"])
    assert unknown.exit_code == 1 and "no merchant" in unknown.output


def test_cli_list_prints_the_admin_ids_and_link_and_reconcile_work(app, redis_conn):
    from portal.models import AuditLog, JobRecord

    merchant = make_merchant()
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["merchants", "list"]).output.splitlines()
    assert listed[1].split("\t")[:3] == [str(merchant.id), STORE, "installed"]
    assert listed[1].endswith(f"/admin/merchants/{merchant.id}/manage")
    result = runner.invoke(
        args=[
            "merchants",
            "link",
            STORE,
            "--bindo-store",
            "bindo-store-1",
            "--location",
            "11",
            "--secrets-stdin",
        ],
        input=f"{BINDO_TOKEN}\n{BINDO_SECRET}\n",
    )
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    merchant = merchant_by_hash(STORE)
    assert merchant.bindo_linked and merchant.bindo_webhook_secret == BINDO_SECRET
    assert BINDO_TOKEN not in result.output
    assert db.session.query(AuditLog).filter_by(action="merchant.bindo_linked").count() == 1
    assert runner.invoke(args=["merchants", "reconcile", STORE]).exit_code == 1  # not active
    merchant.state = "active"
    db.session.commit()
    result = runner.invoke(args=["merchants", "reconcile", STORE])
    assert result.exit_code == 0 and "queued as job reconcile-" in result.output
    (record,) = db.session.query(JobRecord).all()
    assert (record.func, record.args) == ("worker.jobs.catalog.reconcile", [merchant.id])
