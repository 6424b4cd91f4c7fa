"""The admin Queues page: admin role only, failed jobs requeued or deleted (CSRF, audited)."""

from __future__ import annotations

from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from portal.extensions import db
from portal.models import AuditLog
from portal.queue import DEFAULT, enqueue, get_queue, redis_conn
from tests.conftest import csrf_token, login, make_staff

URL = "/admin/queues/"


def signed_in(app, role: str):
    make_staff(email=f"{role}@bindo.test", role=role)
    client = app.test_client()
    assert login(client, email=f"{role}@bindo.test").status_code == 302
    return client


def run_burst(worker_process) -> None:
    proc = worker_process("--burst")
    proc.proc.wait(60)


def failed_ids() -> list[str]:
    return FailedJobRegistry(queue=get_queue(DEFAULT)).get_job_ids()


def test_only_admins_see_the_queues(app, client):
    anonymous = client.get(URL)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    for role in ("viewer", "support"):
        assert signed_in(app, role).get(URL).status_code == 403
    page = signed_in(app, "admin").get(URL)
    assert page.status_code == 200
    assert "high" in page.get_data(as_text=True)


def test_failed_job_is_requeued_then_deleted_with_csrf_and_audit(app, client, worker_process):
    record = enqueue("worker.jobs.diagnostics_fail", "boom on purpose", retry=False)
    run_burst(worker_process)
    assert failed_ids() == [record.job_id]

    admin = signed_in(app, "admin")
    page = admin.get(URL).get_data(as_text=True)
    assert record.job_id in page and "RuntimeError: boom on purpose" in page
    token = csrf_token(page)
    form = {"queue": DEFAULT, "job_id": record.job_id}

    assert admin.post(f"{URL}requeue", data=form).status_code == 400  # no CSRF token
    support = signed_in(app, "support")
    support_token = csrf_token(support.get("/admin/").get_data(as_text=True))
    refused = support.post(f"{URL}requeue", data={**form, "csrf_token": support_token})
    assert refused.status_code == 403
    assert failed_ids() == [record.job_id]

    done = admin.post(f"{URL}requeue", data={**form, "csrf_token": token})
    assert done.status_code == 302
    assert failed_ids() == [] and get_queue(DEFAULT).get_job_ids() == [record.job_id]

    run_burst(worker_process)  # fails again
    assert failed_ids() == [record.job_id]
    gone = admin.post(f"{URL}delete", data={**form, "csrf_token": token})
    assert gone.status_code == 302
    assert failed_ids() == []
    assert not Job.exists(record.job_id, connection=redis_conn())
    missing = admin.post(f"{URL}delete", data={**form, "csrf_token": token})
    assert missing.status_code == 404

    actions = [
        (row.action, row.actor, row.detail["job_id"])
        for row in db.session.query(AuditLog).order_by(AuditLog.id)
        if row.action.startswith("queue.")
    ]
    assert actions == [
        ("queue.job_requeued", "admin@bindo.test", record.job_id),
        ("queue.job_deleted", "admin@bindo.test", record.job_id),
    ]
    assert Job.fetch_many([record.job_id], redis_conn(), JSONSerializer) == [None]
