"""What became of a job staff queued, in one sentence, for the page where they clicked.

``/admin/jobs/<job_id>`` answers ``{"state", "finished", "ok", "message"}`` from the job's
JobRecord (its state and the result the worker stored) and the rows the job changed; the
page polls it (``admin/_job_box.html``) the way the run page polls a run's progress.
"""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify
from flask_admin import expose
from sqlalchemy import or_, select

from portal.admin.base import SecureBaseView
from portal.extensions import db
from portal.models import JobRecord, Merchant, ProductBinding, SyncState

DONE_STATES = frozenset({"finished", "failed", "skipped"})
WAITING = {
    "queued": "Queued: waiting for a worker…",
    "deferred": "Waiting: BigCommerce asked us to slow down; it runs again shortly…",
    "started": "Running…",
}


def _func(record: JobRecord) -> str:
    return record.func.rsplit(".", 1)[-1]


def _check_message(merchant: Merchant) -> tuple[bool, str]:
    check = merchant.last_connection_check or {}
    bc, bindo = check.get("bigcommerce"), check.get("bindo")
    if bc == "ok" and bindo == "ok":
        return True, "Connection OK: BigCommerce and Bindo both answered. You can activate now."
    sides = (("BigCommerce", bc), ("Bindo", bindo))
    return False, "Check failed. " + " ".join(
        f"{n}: {str(v).rstrip('.')}." for n, v in sides if v != "ok"
    )


def _activate_message(record: JobRecord, merchant: Merchant) -> tuple[bool, str]:
    result = record.result or {}
    if result.get("refused"):
        return False, f"Activation refused: {result['refused']}"
    if record.state == "failed":
        return False, merchant.lifecycle_error or "Activation failed."
    run = result.get("sync_run_id")
    tail = f" The initial sync is run #{run}." if run else ""
    return True, f"Activated: webhooks are registered on both sides.{tail}"


def _retry_message(record: JobRecord) -> tuple[bool, str]:
    ids = record.args[1] if len(record.args) > 1 and isinstance(record.args[1], list) else []
    rows = db.session.scalars(
        select(ProductBinding).where(ProductBinding.id.in_([int(i) for i in ids]))
    ).all()
    failed = [b for b in rows if b.sync_state == SyncState.FAILED.value]
    if not failed:
        return True, f"Retried {len(rows)} product(s): all synced."
    first = failed[0]
    what = (
        f"{first.error_field} still '{first.error_value}'"
        if first.error_field and first.error_value
        else (first.error_message or first.error_code or "unknown error")
    )
    others = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    unchanged = " Nothing changed in Bindo since the last try: fix it there first."
    hint = unchanged if first.error_retryable is False else ""
    return False, f"Retry failed again: Bindo #{first.bindo_product_id} {what}{others}.{hint}"


def _link_message(record: JobRecord) -> tuple[bool, str]:
    result = record.result or {}
    if result.get("linked") is False and result.get("error"):
        return False, f"Link refused: {result['error']}"
    args = record.args
    if len(args) >= 3:
        return True, f"Linked: Bindo #{args[1]} is now BC #{args[2]}."
    return True, "Linked."


def outcome(record: JobRecord) -> dict[str, Any]:
    """The job's state and a sentence saying what happened (or that it is still waiting)."""
    finished = record.state in DONE_STATES
    if not finished:
        message = WAITING.get(record.state) or (
            f"Failed, retrying soon: {record.error}" if record.error else "Retrying…"
        )
        return {"state": record.state, "finished": False, "ok": None, "message": message}
    merchant = db.session.get(Merchant, record.merchant_id) if record.merchant_id else None
    func = _func(record)
    if record.state == "skipped":
        ok, message = False, f"Not run: {record.error or 'the store is not syncing'}."
    elif func == "check_connection" and merchant is not None and record.state == "finished":
        ok, message = _check_message(merchant)
    elif func == "activate_merchant" and merchant is not None:
        ok, message = _activate_message(record, merchant)
    elif record.state == "failed":
        ok, message = False, f"Failed: {record.error or 'no error recorded'}"
    elif func == "retry_products":
        ok, message = _retry_message(record)
    elif func == "link_product":
        ok, message = _link_message(record)
    elif func == "dry_run":
        ok, message = True, f"Dry run finished: run #{record.args[0]} lists what would change."
    else:
        ok, message = True, "Done."
    return {"state": record.state, "finished": True, "ok": ok, "message": message}


class JobStatusView(SecureBaseView):
    """Read-only JSON for the pages' job boxes; not in the menu."""

    def is_visible(self) -> bool:
        return False

    @expose("/")
    def index(self):
        abort(404)

    @expose("/<job_id>")
    def status(self, job_id: str):
        # A deferred job continues under "<id>--d<stamp>" (worker/runtime.py defer).
        record = db.session.scalar(
            select(JobRecord)
            .where(or_(JobRecord.job_id == job_id, JobRecord.job_id.startswith(f"{job_id}--d")))
            .order_by(JobRecord.id.desc())
            .limit(1)
        )
        if record is None:
            abort(404)
        response = jsonify(outcome(record))
        response.headers["Cache-Control"] = "no-store"
        return response
