"""Liveness and readiness for load balancers and on-call."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from portal.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - reported, not raised
        checks["database"] = "down"
    from portal.queue import redis_conn

    try:
        redis_conn().ping()
        checks["redis"] = "ok"
    except Exception:  # noqa: BLE001
        checks["redis"] = "down"
    status = 200 if all(v == "ok" for v in checks.values()) else 503
    return jsonify(checks), status
