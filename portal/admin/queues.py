"""RQ queues for admins: queued, started, failed and scheduled jobs, and failed ones requeued or
deleted (CSRF-protected POSTs, audited). Reads Redis through ``portal.queue``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_login import current_user
from redis.exceptions import RedisError
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import (
    BaseRegistry,
    FailedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)
from rq.serializers import JSONSerializer

from portal.admin.base import SecureBaseView
from portal.extensions import db
from portal.models import Role, audit
from portal.queue import QUEUE_NAMES, get_queue, redis_conn

SHOWN = 50  # jobs listed per queue and state (the counts are complete)


@dataclass
class JobRow:
    id: str
    func: str
    args: str
    at: Any
    error: str = ""


@dataclass
class QueueSection:
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, list[JobRow]] = field(default_factory=dict)


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _rows(job_ids: list[str], stamp: str) -> list[JobRow]:
    rows = []
    for job in Job.fetch_many(job_ids, connection=redis_conn(), serializer=JSONSerializer):
        if job is None:
            continue
        try:
            args = ", ".join(repr(a) for a in job.args)[:200]
        except Exception:  # noqa: BLE001 - an unreadable job still gets a row
            args = "?"
        error = ""
        if stamp == "ended_at":
            result = job.latest_result()
            error = _last_line(result.exc_string if result is not None else None)
        rows.append(JobRow(job.id, job.func_name or "?", args, getattr(job, stamp, None), error))
    return rows


def queue_sections() -> list[QueueSection]:
    sections = []
    for name in QUEUE_NAMES:
        queue = get_queue(name)
        section = QueueSection(name)
        registries: dict[str, tuple[BaseRegistry | None, str]] = {
            "queued": (None, "enqueued_at"),
            "started": (StartedJobRegistry(queue=queue), "started_at"),
            "failed": (FailedJobRegistry(queue=queue), "ended_at"),
            "scheduled": (ScheduledJobRegistry(queue=queue), "created_at"),
        }
        for state, (registry, stamp) in registries.items():
            if registry is None:
                section.counts[state] = queue.count
                ids = queue.get_job_ids(0, SHOWN)
            else:
                section.counts[state] = registry.count
                ids = registry.get_job_ids(0, SHOWN - 1)
            section.jobs[state] = _rows(ids, stamp)
        sections.append(section)
    return sections


class QueuesView(SecureBaseView):
    """Admin role only: failed jobs can be run again or thrown away from here."""

    required_role = Role.ADMIN

    @expose("/")
    def index(self):
        try:
            sections, reachable = queue_sections(), True
        except (RedisError, OSError):
            sections, reachable = [], False
        return self.render("admin/queues.html", sections=sections, reachable=reachable)

    def _failed(self) -> tuple[FailedJobRegistry, str, str]:
        name = request.form.get("queue", "")
        job_id = request.form.get("job_id", "")
        if name not in QUEUE_NAMES or not job_id:
            abort(400)
        registry = FailedJobRegistry(queue=get_queue(name))
        if job_id not in registry:
            abort(404)
        return registry, name, job_id

    def _audited(self, action: str, name: str, job_id: str) -> None:
        audit(action, actor_type="staff", actor=current_user.email, queue=name, job_id=job_id)
        db.session.commit()

    @expose("/requeue", methods=("POST",))
    def requeue(self):
        registry, name, job_id = self._failed()
        try:
            registry.requeue(job_id)
        except (NoSuchJobError, InvalidJobOperation):
            abort(404)
        self._audited("queue.job_requeued", name, job_id)
        flash(f"Job {job_id} requeued.", "success")
        return redirect(url_for(".index"))

    @expose("/delete", methods=("POST",))
    def delete(self):
        registry, name, job_id = self._failed()
        try:
            job = Job.fetch(job_id, connection=redis_conn(), serializer=JSONSerializer)
        except NoSuchJobError:
            registry.remove(job_id)
        else:
            registry.remove(job, delete_job=True)
        self._audited("queue.job_deleted", name, job_id)
        flash(f"Job {job_id} deleted.", "success")
        return redirect(url_for(".index"))
