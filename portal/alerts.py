"""Alerts for staff: stored once per subject, shown on the dashboard, optionally sent out."""

from __future__ import annotations

import json
import logging
import smtplib
from email.message import EmailMessage
from urllib.parse import urlparse
from urllib.request import Request, urlopen

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.models import Alert, Merchant, utcnow

log = logging.getLogger(__name__)


def raise_alert(
    kind: str, message: str, *, merchant: Merchant | None = None, subject: str = ""
) -> Alert:
    """Open (or bump) the alert for (kind, merchant, subject); sends it out when first opened."""
    key = f"{kind}:{merchant.id if merchant else '-'}:{subject}"
    alert = db.session.scalar(
        select(Alert).where(Alert.dedupe_key == key, Alert.resolved_at.is_(None))
    )
    if alert is not None:
        alert.count += 1
        alert.last_seen_at = utcnow()
        alert.message = message
        return alert
    # A resolved alert with the same key is reopened rather than duplicated (the key is unique).
    alert = db.session.scalar(select(Alert).where(Alert.dedupe_key == key))
    if alert is None:
        alert = Alert(dedupe_key=key, kind=kind, merchant_id=merchant.id if merchant else None)
        db.session.add(alert)
    alert.message, alert.count, alert.resolved_at = message, 1, None
    alert.last_seen_at = utcnow()
    notify(f"[Bindo x BigCommerce] {kind}", message)
    return alert


def resolve_alert(kind: str, *, merchant: Merchant | None = None, subject: str = "") -> None:
    key = f"{kind}:{merchant.id if merchant else '-'}:{subject}"
    alert = db.session.scalar(
        select(Alert).where(Alert.dedupe_key == key, Alert.resolved_at.is_(None))
    )
    if alert is not None:
        alert.resolved_at = utcnow()


def notify(subject: str, body: str) -> None:
    """Send to NOTIFY_EMAIL (via SMTP_URL) and/or NOTIFY_WEBHOOK_URL when configured.

    Best effort: a notification channel that is down never fails the caller.
    """
    cfg = current_app.config
    if cfg.get("NOTIFY_WEBHOOK_URL"):
        try:
            data = json.dumps({"subject": subject, "text": body}).encode()
            req = Request(  # noqa: S310 - URL comes from our own configuration
                cfg["NOTIFY_WEBHOOK_URL"], data=data, headers={"Content-Type": "application/json"}
            )
            urlopen(req, timeout=5).close()  # noqa: S310
        except Exception:  # noqa: BLE001
            log.warning("notification webhook failed", exc_info=True)
    if cfg.get("NOTIFY_EMAIL") and cfg.get("SMTP_URL"):
        try:
            url = urlparse(cfg["SMTP_URL"])
            msg = EmailMessage()
            msg["Subject"], msg["To"] = subject, cfg["NOTIFY_EMAIL"]
            msg["From"] = url.username or "noreply@bindo.invalid"
            msg.set_content(body)
            with smtplib.SMTP(url.hostname or "127.0.0.1", url.port or 25, timeout=5) as smtp:
                smtp.send_message(msg)
        except Exception:  # noqa: BLE001
            log.warning("notification email failed", exc_info=True)
