"""The data model: staff, merchants and their sync state, inbox, orders and the audit log."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.crypto import decrypt, encrypt
from portal.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC timestamps on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Role(enum.StrEnum):
    ADMIN = "admin"
    SUPPORT = "support"
    VIEWER = "viewer"


ROLE_RANK = {Role.VIEWER: 0, Role.SUPPORT: 1, Role.ADMIN: 2}


class MerchantState(enum.StrEnum):
    INSTALLED = "installed"  # installed, awaiting activation by staff
    ACTIVE = "active"
    PAUSED = "paused"
    NEEDS_REAUTH = "needs_reauth"
    UNINSTALLED = "uninstalled"


class ContentOwner(enum.StrEnum):
    BINDO = "bindo"
    BIGCOMMERCE = "bigcommerce"


class SyncState(enum.StrEnum):
    PENDING = "pending"
    SYNCED = "synced"
    HIDDEN = "hidden"
    FAILED = "failed"
    SKIPPED = "skipped"  # In Store Only and never pushed


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StaffUser(TimestampMixin, db.Model):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.VIEWER.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped on logout and on a new password: sessions carrying an older number are refused.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    # Flask-Login protocol
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    def has_role(self, needed: Role | str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(needed)]

    def __repr__(self) -> str:
        return f"<StaffUser {self.email} {self.role}>"


class LoginAttempt(db.Model):
    """One staff login attempt, for throttling per account and per address."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    ip: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Merchant(TimestampMixin, db.Model):
    """One BigCommerce store that installed the app, and its link to a Bindo store."""

    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(primary_key=True)
    store_hash: Mapped[str] = mapped_column(String(64), unique=True)
    store_name: Mapped[str | None] = mapped_column(String(255))
    bc_store_id: Mapped[str | None] = mapped_column(String(32))  # numeric id webhooks carry
    state: Mapped[str] = mapped_column(String(16), default=MerchantState.INSTALLED.value)
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[str | None] = mapped_column(Text)
    account_uuid: Mapped[str | None] = mapped_column(String(64))
    owner_email: Mapped[str | None] = mapped_column(String(254))
    owner_bc_id: Mapped[int | None] = mapped_column(BigInteger)
    installer_email: Mapped[str | None] = mapped_column(String(254))
    installed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uninstalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    weight_unit: Mapped[str | None] = mapped_column(String(16))
    hook_secret_enc: Mapped[str | None] = mapped_column(Text)
    # How BigCommerce's deliveries authenticated ("header" or "header+signature") and the
    # header names (never values) they carried: the first real store settles whether
    # deliveries are signed (issue 15). Written when the path is new or changes.
    webhook_auth_path: Mapped[str | None] = mapped_column(String(24))
    webhook_header_names: Mapped[list[str] | None] = mapped_column(JSON)
    webhook_auth_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Bindo link (set by staff)
    bindo_store_id: Mapped[str | None] = mapped_column(String(64))
    bindo_token_enc: Mapped[str | None] = mapped_column(Text)
    bindo_webhook_secret_enc: Mapped[str | None] = mapped_column(Text)
    bindo_location_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # "sum": all linked locations summed into bc_location_id; "map": location_map decides
    location_mode: Mapped[str] = mapped_column(String(8), default="sum")
    location_map: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    bc_location_id: Mapped[int] = mapped_column(Integer, default=1)
    # Storefront channels new products are assigned to (multi-storefront stores; default 1).
    bc_channel_ids: Mapped[list[int]] = mapped_column(JSON, default=lambda: [1])
    # GET /v2/store features.multi_storefront_enabled, read with the weight unit (None: not
    # read yet). Without Multi-Storefront, new products need no channel assignment.
    bc_multi_storefront: Mapped[bool | None] = mapped_column(Boolean)

    # Merchant settings (editable on the app page inside BigCommerce)
    default_category_id: Mapped[int | None] = mapped_column(BigInteger)
    content_managed_by: Mapped[str] = mapped_column(String(16), default=ContentOwner.BINDO.value)
    allow_out_of_stock_orders: Mapped[bool] = mapped_column(Boolean, default=False)
    safety_buffer: Mapped[int] = mapped_column(Integer, default=0)
    create_missing_categories: Mapped[bool] = mapped_column(Boolean, default=True)

    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    activated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why staff paused the store, in words the merchant sees on the app page.
    pause_reason: Mapped[str | None] = mapped_column(Text)
    # The store's lists as a worker last read them (paced), for the portal's dropdowns:
    # categories go to CategoryCache (with labels); locations of both systems here,
    # {"bindo": [{"id", "name"}], "bigcommerce": [{"id", "label"}], "fetched_at", "error"}.
    categories_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    known_locations: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_drift_count: Mapped[int | None] = mapped_column(Integer)
    # The stock reconciliation's own clock (last_reconciled_at belongs to the catalog's).
    last_stock_reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_order_sweep_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bindo_watermark: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_connection_check: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Why the last activation was refused or failed (shown to staff); None once it succeeds.
    lifecycle_error: Mapped[str | None] = mapped_column(Text)

    activated_by: Mapped[StaffUser | None] = relationship()

    # Secrets are only ever stored encrypted; these properties decrypt at use.
    @property
    def access_token(self) -> str | None:
        return decrypt(self.access_token_enc)

    @access_token.setter
    def access_token(self, value: str | None) -> None:
        self.access_token_enc = encrypt(value)

    @property
    def bindo_token(self) -> str | None:
        return decrypt(self.bindo_token_enc)

    @bindo_token.setter
    def bindo_token(self, value: str | None) -> None:
        self.bindo_token_enc = encrypt(value)

    @property
    def bindo_webhook_secret(self) -> str | None:
        return decrypt(self.bindo_webhook_secret_enc)

    @bindo_webhook_secret.setter
    def bindo_webhook_secret(self, value: str | None) -> None:
        self.bindo_webhook_secret_enc = encrypt(value)

    @property
    def hook_secret(self) -> str | None:
        return decrypt(self.hook_secret_enc)

    @hook_secret.setter
    def hook_secret(self, value: str | None) -> None:
        self.hook_secret_enc = encrypt(value)

    @property
    def syncing(self) -> bool:
        """Only an active merchant with a token may call either API."""
        return self.state == MerchantState.ACTIVE.value and self.access_token_enc is not None

    @property
    def bindo_credentials(self) -> bool:
        """A Bindo store id and API token are saved: the Bindo API can be called."""
        return bool(self.bindo_store_id and self.bindo_token_enc)

    @property
    def bindo_linked(self) -> bool:
        return self.bindo_credentials and bool(self.bindo_location_ids)

    def __repr__(self) -> str:
        return f"<Merchant {self.store_hash} {self.state}>"


SECRET_COLUMNS = frozenset(
    {"access_token_enc", "bindo_token_enc", "bindo_webhook_secret_enc", "hook_secret_enc"}
)


class MerchantUser(TimestampMixin, db.Model):
    """A BigCommerce control-panel user allowed to open the app for a store."""

    __tablename__ = "merchant_users"
    __table_args__ = (UniqueConstraint("merchant_id", "bc_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    bc_user_id: Mapped[int] = mapped_column(BigInteger)
    email: Mapped[str | None] = mapped_column(String(254))
    is_owner: Mapped[bool] = mapped_column(Boolean, default=False)
    # The owner may let other users change the app's settings (docs/admin.md).
    may_change_settings: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def can_change_settings(self) -> bool:
        return self.removed_at is None and (self.is_owner or self.may_change_settings)


class InstallNotification(db.Model):
    __tablename__ = "install_notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # install | reinstall | uninstall
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))

    merchant: Mapped[Merchant] = relationship()


class ProductBinding(TimestampMixin, db.Model):
    """Links one Bindo product to one BigCommerce product for a merchant, with sync stamps."""

    __tablename__ = "product_bindings"
    __table_args__ = (
        UniqueConstraint("merchant_id", "bindo_product_id"),
        UniqueConstraint("merchant_id", "bc_product_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    bindo_product_id: Mapped[int] = mapped_column(BigInteger)
    bc_product_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(255))
    sku: Mapped[str | None] = mapped_column(String(255))
    upc: Mapped[str | None] = mapped_column(String(32))
    sync_state: Mapped[str] = mapped_column(String(16), default=SyncState.PENDING.value, index=True)
    last_payload_hash: Mapped[str | None] = mapped_column(String(64))
    last_pushed: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    last_online: Mapped[bool | None] = mapped_column(Boolean)
    image_map: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    stock_pushed: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    bindo_updated_at: Mapped[str | None] = mapped_column(String(40))
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When we last wrote the product to BigCommerce (its fields, its variants or its stock):
    # the store/product/updated echo arrives shortly after and is dropped at the relay,
    # with no job and no read (docs/webhooks.md, echoes).
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Created (or refused a channel earlier) and not yet assigned to the store's channels:
    # a catalog run batches its assignments across its steps, and this mark outlives a step
    # that dies in between (docs/catalog-sync.md, channels).
    channels_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    error_code: Mapped[str | None] = mapped_column(String(64), index=True)
    error_field: Mapped[str | None] = mapped_column(String(64))
    error_value: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_retryable: Mapped[bool | None] = mapped_column(Boolean)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    merchant: Mapped[Merchant] = relationship()

    def __repr__(self) -> str:
        return f"<ProductBinding {self.merchant_id}:{self.bindo_product_id}->{self.bc_product_id}>"


class VariantBinding(TimestampMixin, db.Model):
    """Links one Bindo variant to one BigCommerce variant (docs/catalog-sync.md, Variants).

    The product itself is bound by its ProductBinding (errors, visibility, images live there);
    this row holds what is per variant: the ids, how staff recognise it (``label``: option
    values and SKU), the hash of what was last written, and the stock watermark.
    """

    __tablename__ = "variant_bindings"
    __table_args__ = (
        UniqueConstraint("merchant_id", "bindo_variant_id"),
        UniqueConstraint("merchant_id", "bc_variant_id"),
        Index("ix_variant_bindings_merchant_product", "merchant_id", "bindo_product_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    bindo_product_id: Mapped[int] = mapped_column(BigInteger)
    bindo_variant_id: Mapped[int] = mapped_column(BigInteger)
    bc_product_id: Mapped[int | None] = mapped_column(BigInteger)
    bc_variant_id: Mapped[int | None] = mapped_column(BigInteger)
    sku: Mapped[str | None] = mapped_column(String(255))
    label: Mapped[str | None] = mapped_column(String(512))
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    last_hash: Mapped[str | None] = mapped_column(String(64))
    stock_pushed: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<VariantBinding {self.merchant_id}:{self.bindo_variant_id}->{self.bc_variant_id}>"


class CategoryCache(db.Model):
    """A BigCommerce category id per normalised path, so each is looked up or created once."""

    __tablename__ = "category_cache"
    __table_args__ = (UniqueConstraint("merchant_id", "path_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    path_key: Mapped[str] = mapped_column(String(512))
    bc_category_id: Mapped[int] = mapped_column(BigInteger)
    # "Parent / Child" as BigCommerce spells it, for the merchant's category dropdown.
    label: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncRun(db.Model):
    """A full sync, reconciliation, retry or dry run, with counts and progress."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # initial | full | reconcile | retry | dry_run
    state: Mapped[str] = mapped_column(String(16), default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    drift: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # Resumable runs: where the next step starts (worker/sync/catalog/steps.py) and how many
    # steps ran. A step that dies resumes here; nothing before the cursor is read again.
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    steps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    merchant: Mapped[Merchant] = relationship()
    items: Mapped[list[SyncRunItem]] = relationship(back_populates="run")


class SyncRunItem(db.Model):
    __tablename__ = "sync_run_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id"), index=True)
    bindo_product_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(16))  # create|update|link|hide|unchanged|skip|error
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    run: Mapped[SyncRun] = relationship(back_populates="items")


class ImportedOrder(TimestampMixin, db.Model):
    """A BigCommerce order and its Bindo counterpart; the unique pair stops double imports."""

    __tablename__ = "imported_orders"
    __table_args__ = (UniqueConstraint("merchant_id", "bc_order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    bc_order_id: Mapped[int] = mapped_column(BigInteger)
    bc_status_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(24), default="pending", index=True)
    bindo_order_id: Mapped[int | None] = mapped_column(BigInteger)
    bindo_customer_id: Mapped[int | None] = mapped_column(BigInteger)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    total: Mapped[str | None] = mapped_column(String(32))
    # BigCommerce's refunded_amount when Bindo last matched it: the sweep compares amounts,
    # since a second partial refund leaves the status at 14 and fires no statusUpdated.
    refunded_amount: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    merchant: Mapped[Merchant] = relationship()


class WebhookEvent(db.Model):
    """The inbox: every verified delivery, stored before we answer 200, unique per event."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("source", "event_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # bigcommerce | bindo
    event_key: Mapped[str] = mapped_column(String(128))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    scope: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="received", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Lease of the run now processing the row (state "processing"): a second run of the same
    # event waits it out instead of calling the handler twice; the relay revives expired ones.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsedJwt(db.Model):
    """A ``jti`` already accepted; kept until the token expires so it is single-use."""

    __tablename__ = "used_jwts"

    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class JobRecord(TimestampMixin, db.Model):
    """The tracking row of an enqueued RQ job: committed before the job is enqueued."""

    __tablename__ = "job_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(128), unique=True)
    func: Mapped[str] = mapped_column(String(128))
    queue: Mapped[str] = mapped_column(String(32))
    args: Mapped[list[Any]] = mapped_column(JSON, default=list)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # What the job returned (a small JSON dict), so the page that queued it can show the outcome.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Alert(db.Model):
    """Something staff must look at; one open alert per (kind, merchant, subject)."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("dedupe_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    message: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    merchant: Mapped[Merchant | None] = relationship()


class AuditLog(db.Model):
    """Who did what, when: staff, merchants, BigCommerce callbacks and the system."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(16))  # staff | merchant | bigcommerce | system
    actor: Mapped[str | None] = mapped_column(String(254))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    merchant: Mapped[Merchant | None] = relationship()


def audit(
    action: str,
    *,
    actor_type: str = "system",
    actor: str | None = None,
    merchant: Merchant | None = None,
    **detail: Any,
) -> AuditLog:
    """Add an audit row to the session (the caller commits with its own change)."""
    row = AuditLog(
        action=action,
        actor_type=actor_type,
        actor=actor,
        merchant_id=merchant.id if merchant is not None else None,
        detail=detail,
    )
    db.session.add(row)
    return row


def merchant_by_hash(store_hash: str) -> Merchant | None:
    return db.session.scalar(select(Merchant).where(Merchant.store_hash == store_hash))


def count(stmt) -> int:
    return db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
