"""Configuration from the environment, with documented defaults (see README: Configuration)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"

DEFAULT_SCOPES = (
    "store_inventory store_v2_information_read_only store_v2_orders_read_only store_v2_products"
)

# name -> default; None means "no default" (SECRET_KEY and TOKEN_ENCRYPTION_KEY are generated
# under instance/ in development and refused in production).
DEFAULTS: dict[str, Any] = {
    "APP_ENV": "development",
    "DATABASE_URL": None,  # sqlite:///instance/portal.db
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": None,
    "TOKEN_ENCRYPTION_KEY": None,
    "BIGCOMMERCE_CLIENT_ID": "",
    "BIGCOMMERCE_CLIENT_SECRET": "",
    "BIGCOMMERCE_API_URL": "https://api.bigcommerce.com",
    "BIGCOMMERCE_LOGIN_URL": "https://login.bigcommerce.com",
    "BIGCOMMERCE_SCOPES": DEFAULT_SCOPES,
    "BIGCOMMERCE_FRAME_ANCESTORS": "https://*.bigcommerce.com https://*.mybigcommerce.com",
    "APP_URL": "http://127.0.0.1:5000",
    "BINDO_API_URL": "https://api.bindo.com",
    # Deep links on the staff pages. The control panel's base is documented (store
    # information's control_panel_base_url); the /manage/... paths are assumed (docs/admin.md).
    "BIGCOMMERCE_CONTROL_PANEL_URL": "https://store-{store_hash}.mybigcommerce.com",
    "BINDO_BACKOFFICE_URL": "",  # empty: no links into Bindo's back office
    "BINDO_BACKOFFICE_PRODUCT_PATH": "/stores/{store_id}/products/{id}",
    "BINDO_BACKOFFICE_ORDER_PATH": "/stores/{store_id}/orders/{id}",
    "NOTIFY_EMAIL": "",
    "NOTIFY_WEBHOOK_URL": "",
    "SMTP_URL": "",
    "RQ_QUEUE_PREFIX": "",
    "RECONCILE_INTERVAL_SECONDS": 900,
    "ORDER_SWEEP_INTERVAL_SECONDS": 900,
    "WEBHOOK_TOLERANCE_SECONDS": 300,
    # Catalog runs (docs/catalog-sync.md): a step's wall-clock budget, and how long after our
    # own write a store/product/updated counts as its echo (0: check every event with a read).
    "CATALOG_STEP_SECONDS": 10,
    # A step works at least this long before it gives its worker up to waiting stock, order or
    # webhook work: each step costs a fork and a reload, so under steady traffic a step that
    # yielded after one create spent more CPU on itself than on the store (docs/performance.md).
    "CATALOG_MIN_SLICE_SECONDS": 0.5,
    "CATALOG_ECHO_WINDOW_SECONDS": 60,
    # The clock process: inbox relay period (new webhook rows wait at most this long for their
    # job) and the period of the tick job that runs the due periodic checks.
    "INBOX_POLL_SECONDS": 0.2,
    "TICK_SECONDS": 15,
    # Waits between the runs of a failed job (RQ's Retry, portal/queue.py): five waits, so a
    # job runs at most six times (worker/inbox.py MAX_ATTEMPTS counts on it).
    "JOB_RETRY_SECONDS": "10,30,60,120,300",
    # How long an order import holds the order's lock (worker/sync/orders.py): longer than any
    # import, shorter than the high queue's 120 s job timeout, so a killed run blocks the order
    # for this long at most.
    "ORDER_LOCK_SECONDS": 60,
    # A stock push or an order import that would wait longer than this for its store's
    # BigCommerce quota is deferred to a place reserved for its calls in a later window
    # instead of holding its worker (the other merchants' jobs wait for that worker).
    # docs/stock-and-orders.md.
    "QUOTA_WAIT_SECONDS": 2.0,
    "ALERT_QUEUE_BACKLOG_SECONDS": 300,  # oldest high/default job older than this: alert
    "ALERT_FAILING_ATTEMPTS": 5,  # a product failed this many times: alert
    "LOGIN_MAX_FAILURES": 10,
    "LOGIN_WINDOW_SECONDS": 15 * 60,
    # BigCommerce deliveries are authenticated by the hook's custom header; a Standard Webhooks
    # signature is verified when present. Set to true once a real store confirms deliveries are
    # always signed (the manage page shows which path deliveries used): unsigned ones get 401.
    "BIGCOMMERCE_WEBHOOK_SIGNATURE_REQUIRED": False,
    # Proxies in front of the app that set X-Forwarded-For/-Proto (the platform's router is
    # one). 0 trusts no header: the login throttle then sees the socket's address.
    "TRUSTED_PROXIES": 0,
    # Operations (docs/operations.md): /metrics and /metrics/cluster answer 404 while unset.
    "METRICS_TOKEN": "",
    "SENTRY_DSN": "",  # error tracking is off while unset
    "SENTRY_ENVIRONMENT": "",  # defaults to APP_ENV
    "LOG_FORMAT": "text",  # or "json": one JSON object per line
}

BOOL_KEYS = {"BIGCOMMERCE_WEBHOOK_SIGNATURE_REQUIRED"}

INT_KEYS = {
    "RECONCILE_INTERVAL_SECONDS",
    "ORDER_SWEEP_INTERVAL_SECONDS",
    "WEBHOOK_TOLERANCE_SECONDS",
    "CATALOG_STEP_SECONDS",
    "CATALOG_ECHO_WINDOW_SECONDS",
    "TICK_SECONDS",
    "ORDER_LOCK_SECONDS",
    "ALERT_QUEUE_BACKLOG_SECONDS",
    "ALERT_FAILING_ATTEMPTS",
    "LOGIN_MAX_FAILURES",
    "LOGIN_WINDOW_SECONDS",
    "TRUSTED_PROXIES",
}
FLOAT_KEYS = {"INBOX_POLL_SECONDS", "CATALOG_MIN_SLICE_SECONDS", "QUOTA_WAIT_SECONDS"}
INT_LIST_KEYS = {"JOB_RETRY_SECONDS"}  # "10,30,60" in the environment


class ConfigError(RuntimeError):
    """The configuration cannot be used (for example no SECRET_KEY in production)."""


def _instance_secret(name: str, make) -> str:
    """Read or create a development secret kept under instance/ (never committed)."""
    INSTANCE.mkdir(exist_ok=True)
    path = INSTANCE / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config: defaults < environment < ``overrides``."""
    overrides = dict(overrides or {})
    cfg: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        value = overrides.pop(key, os.environ.get(key, default))
        if key in INT_KEYS and value is not None:
            value = int(value)
        elif key in FLOAT_KEYS and value is not None:
            value = float(value)
        elif key in INT_LIST_KEYS and isinstance(value, str):
            value = [int(part) for part in value.split(",") if part.strip()]
        if key in BOOL_KEYS and isinstance(value, str):
            value = value.strip().lower() in ("1", "true", "yes", "on")
        cfg[key] = value
    cfg.update(overrides)
    production = cfg["APP_ENV"] == "production"

    if not cfg["DATABASE_URL"]:
        INSTANCE.mkdir(exist_ok=True)
        cfg["DATABASE_URL"] = f"sqlite:///{INSTANCE / 'portal.db'}"
    if not cfg["SECRET_KEY"]:
        if production:
            raise ConfigError("SECRET_KEY must be set when APP_ENV=production")
        cfg["SECRET_KEY"] = _instance_secret("secret_key", lambda: secrets.token_hex(32))
    if len(str(cfg["SECRET_KEY"])) < 32:
        raise ConfigError("SECRET_KEY must be at least 32 characters")
    if not cfg["TOKEN_ENCRYPTION_KEY"]:
        if production:
            raise ConfigError("TOKEN_ENCRYPTION_KEY must be set when APP_ENV=production")
        cfg["TOKEN_ENCRYPTION_KEY"] = _instance_secret(
            "token_encryption_key", lambda: Fernet.generate_key().decode()
        )
    if production and not (cfg["BIGCOMMERCE_CLIENT_ID"] and cfg["BIGCOMMERCE_CLIENT_SECRET"]):
        raise ConfigError("BIGCOMMERCE_CLIENT_ID and BIGCOMMERCE_CLIENT_SECRET must be set")

    cfg["SQLALCHEMY_DATABASE_URI"] = cfg["DATABASE_URL"]
    cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    cfg["SESSION_COOKIE_NAME"] = "bindo_session"
    cfg["SESSION_COOKIE_SECURE"] = cfg.get("SESSION_COOKIE_SECURE", production)
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["REMEMBER_COOKIE_SECURE"] = cfg["SESSION_COOKIE_SECURE"]
    cfg["REMEMBER_COOKIE_HTTPONLY"] = True
    cfg.setdefault("PERMANENT_SESSION_LIFETIME", 8 * 3600)
    cfg.setdefault("MAX_CONTENT_LENGTH", 2 * 1024 * 1024)
    cfg.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)
    cfg.setdefault("AUTH_CALLBACK_MAX_PER_ADDRESS", 20)
    cfg.setdefault("AUTH_CALLBACK_MAX_PER_STORE", 10)
    cfg.setdefault("AUTH_CALLBACK_WINDOW_SECONDS", 10 * 60)
    cfg.setdefault("TESTING", False)
    cfg["DEBUG"] = False
    return cfg
