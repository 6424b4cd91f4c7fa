"""Products that failed to sync, with what BigCommerce answered, and staff retry / link actions.

Actions enqueue catalog jobs by dotted path (the portal never imports ``worker``); support and
admin may act, viewers only read.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from flask import abort, flash, g, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import BaseSQLAFilter, FilterEqual, IntEqualFilter
from flask_admin.model.template import macro
from flask_login import current_user
from sqlalchemy import select

from portal.admin.base import ActionRoleMixin, SecureModelView, datetime_filters
from portal.admin.display import bc_ref, bindo_ref, when
from portal.extensions import db
from portal.models import Merchant, ProductBinding, SyncState, audit, utcnow
from portal.queue import enqueue, make_job_id

RETRY_JOB = "worker.jobs.catalog.retry_products"
LINK_JOB = "worker.jobs.catalog.link_product"


AGE_OPTIONS = (("1", "1 day"), ("7", "7 days"), ("30", "30 days"))


class ErrorAgeFilter(BaseSQLAFilter):
    """Failures whose last attempt is at least N days old (stale ones nobody retried)."""

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        cutoff = utcnow() - timedelta(days=int(value))
        return query.filter(ProductBinding.last_error_at <= cutoff)

    def operation(self) -> str:
        return "older than"

    def validate(self, value: Any) -> bool:
        return str(value).isdigit()


def _failed(ids: Iterable[int] | None = None, merchant_id: int | None = None):
    stmt = select(ProductBinding).where(ProductBinding.sync_state == SyncState.FAILED.value)
    if ids is not None:
        stmt = stmt.where(ProductBinding.id.in_(list(ids)))
    if merchant_id is not None:
        stmt = stmt.where(ProductBinding.merchant_id == merchant_id)
    return db.session.scalars(stmt.order_by(ProductBinding.id)).all()


def enqueue_retries(bindings: Iterable[ProductBinding], actor: str) -> list[tuple[Merchant, int]]:
    """One retry_products job per merchant for the given failed bindings; returns (merchant, n)."""
    by_merchant: dict[int, list[ProductBinding]] = defaultdict(list)
    for binding in bindings:
        by_merchant[binding.merchant_id].append(binding)
    done = []
    for merchant_id, rows in sorted(by_merchant.items()):
        ids = [row.id for row in rows]
        merchant = rows[0].merchant
        digest = hashlib.sha1(",".join(map(str, ids)).encode()).hexdigest()[:12]
        audit(
            "sync.retry_requested",
            actor_type="staff",
            actor=actor,
            merchant=merchant,
            binding_ids=ids,
        )
        # enqueue commits the audit row with its JobRecord before the job reaches Redis.
        record = enqueue(
            RETRY_JOB,
            merchant_id,
            ids,
            job_id=make_job_id("retry_products", merchant_id, digest),
            merchant_id=merchant_id,
        )
        done.append((merchant, len(ids)))
        # The page shows the outcome of the (first) job it queued: admin/_job_box.html.
        g.setdefault("queued_job", record.job_id)
    return done


def _store(merchant: Merchant) -> str:
    return merchant.store_name or merchant.store_hash


class LiveOptions:
    """Filter options read when the page renders (Flask-Admin keeps a filter's options from
    start-up; it iterates them at render time, which is when this runs its query)."""

    def __init__(self, query) -> None:
        self.query = query

    def __iter__(self):
        return iter(self.query())

    def __bool__(self) -> bool:
        return True


def _merchant_options() -> list[tuple[str, str]]:
    """The merchant picker: every merchant with a failure, by name."""
    rows = db.session.execute(
        select(Merchant.id, Merchant.store_name, Merchant.store_hash)
        .where(Merchant.id.in_(select(ProductBinding.merchant_id).where(_failed_where())))
        .order_by(Merchant.store_name, Merchant.store_hash)
    ).all()
    return [(str(mid), f"{name or store} ({store})") for mid, name, store in rows]


def _kind_options() -> list[tuple[str, str]]:
    """The Kind dropdown: the error kinds failing now."""
    kinds = db.session.scalars(
        select(ProductBinding.error_code)
        .where(_failed_where(), ProductBinding.error_code.is_not(None))
        .distinct()
        .order_by(ProductBinding.error_code)
    ).all()
    return [(k, k.replace("_", " ")) for k in kinds]


def _failed_where():
    return ProductBinding.sync_state == SyncState.FAILED.value


@dataclass
class FailureGroup:
    """Failed products of one merchant with one error kind."""

    merchant: Merchant
    kind: str
    count: int
    oldest: Any
    example: str
    products: list[ProductBinding] = field(default_factory=list)
    url: str | None = None


GROUP_PRODUCTS = 20


def failure_groups(failures: Iterable[ProductBinding]) -> list[FailureGroup]:
    """Failures grouped by merchant and kind, biggest first, with up to 20 products each."""
    groups: dict[tuple[int, str], FailureGroup] = {}
    for binding in failures:
        key = (binding.merchant_id, binding.error_code or "unknown")
        group = groups.get(key)
        if group is None:
            group = groups[key] = FailureGroup(
                binding.merchant, key[1], 0, binding.first_error_at, binding.error_message or ""
            )
        group.count += 1
        if binding.first_error_at and (
            group.oldest is None or binding.first_error_at < group.oldest
        ):
            group.oldest = binding.first_error_at
        if len(group.products) < GROUP_PRODUCTS:
            group.products.append(binding)
    return sorted(groups.values(), key=lambda g: (-g.count, g.merchant.store_hash, g.kind))


class SyncErrorView(ActionRoleMixin, SecureModelView):
    """ProductBinding rows in sync_state ``failed`` only."""

    list_template = "admin/sync_errors_list.html"
    # Few, wide columns: the list fits a 1,366 px laptop; the details page has every field.
    column_list = (
        "merchant",
        "product",
        "error_code",
        "error_message",
        "error_detail",
        "attempts",
        "last_error_at",
        "link",
    )
    column_labels = {
        "merchant.store_hash": "Store hash",
        "merchant.store_name": "Merchant name",
        "bindo_product_id": "Bindo product",
        "product": "Product",
        "sku": "SKU",
        "error_code": "Kind",
        "error_field": "Field",
        "error_value": "Value",
        "error_message": "What went wrong",
        "error_detail": "BigCommerce's answer",
        "attempts": "Tries",
        "last_error_at": "Last failed",
        "link": "Link to BC product",
    }
    column_details_list = (
        "merchant",
        "bindo_product_id",
        "name",
        "sku",
        "error_code",
        "error_field",
        "error_value",
        "error_message",
        "error_detail",
        "attempts",
        "first_error_at",
        "last_error_at",
        "error_retryable",
        "bc_product_id",
    )
    column_sortable_list = (
        ("product", ProductBinding.bindo_product_id),
        "error_code",
        "attempts",
        "last_error_at",
    )
    column_default_sort = ("last_error_at", True)
    # Store hash, merchant name, Bindo id, SKU, kind, product name and the message.
    column_searchable_list = (
        "merchant.store_hash",
        "merchant.store_name",
        "bindo_product_id",
        "sku",
        "error_code",
        "name",
        "error_message",
    )
    column_filters = (
        IntEqualFilter(
            ProductBinding.merchant_id, "Merchant", options=LiveOptions(_merchant_options)
        ),
        "merchant.store_hash",
        FilterEqual(ProductBinding.error_code, "Kind", options=LiveOptions(_kind_options)),
        *datetime_filters(ProductBinding.last_error_at, "Last error at"),
        ErrorAgeFilter(ProductBinding.last_error_at, "Age", options=AGE_OPTIONS),
        "error_retryable",
    )
    column_formatters = {
        "merchant": lambda v, c, m, n: _store(m.merchant),
        "product": macro("product_cell"),
        "error_code": lambda v, c, m, n: (m.error_code or "").replace("_", " "),
        "error_detail": macro("bc_answer"),
        "last_error_at": lambda v, c, m, n: when(m.last_error_at),
        "link": macro("link_form"),
    }
    column_formatters_detail = {
        "error_detail": macro("bc_answer"),
        "bindo_product_id": lambda v, c, m, n: bindo_ref(m.bindo_product_id, m.merchant),
        "bc_product_id": lambda v, c, m, n: bc_ref(m.bc_product_id, m.merchant),
        "first_error_at": lambda v, c, m, n: when(m.first_error_at),
        "last_error_at": lambda v, c, m, n: when(m.last_error_at),
    }

    # -- the failed-only scope -------------------------------------------------------------------

    def get_query(self):
        return super().get_query().filter(ProductBinding.sync_state == SyncState.FAILED.value)

    def get_count_query(self):
        return super().get_count_query().filter(ProductBinding.sync_state == SyncState.FAILED.value)

    def get_one(self, id: Any) -> ProductBinding | None:
        row = super().get_one(id)
        return row if row is not None and row.sync_state == SyncState.FAILED.value else None

    def render(self, template: str, **kwargs: Any) -> str:
        if template == self.list_template:
            kwargs["failed_by_merchant"] = self.failed_by_merchant()
            # The groups follow the search and filters, like the rows below them.
            groups = failure_groups(self.filtered_failures())
            for group in groups:
                group.url = self.group_url(group)
            kwargs["failure_groups"] = groups
            kwargs["filtered"] = bool(request.args.get("search")) or any(
                k.startswith("flt") for k in request.args
            )
        return super().render(template, **kwargs)

    def group_url(self, group: FailureGroup) -> str:
        """This list filtered on the group's merchant and kind."""
        args = {}
        for index, flt in enumerate(self._filters or []):
            if flt.operation() != "equals":
                continue
            if flt.name == "Merchant":
                args[f"flt1_{self.get_filter_arg(index, flt)}"] = group.merchant.id
            elif flt.name == "Kind":
                args[f"flt2_{self.get_filter_arg(index, flt)}"] = group.kind
        return url_for(".index_view", **args)

    def filtered_failures(self) -> list[ProductBinding]:
        """Every failed product the list shows with the request's search and filters (all
        pages)."""
        view_args = self._get_list_extra_args()
        # page_size=0: no limit; a filter value the database refuses gives [] (SecureModelView).
        _count, rows = self.get_list(
            None, None, False, view_args.search, view_args.filters, page_size=0
        )
        return list(rows)

    @staticmethod
    def failed_by_merchant() -> list[tuple[Merchant, int]]:
        counts: dict[int, int] = defaultdict(int)
        for binding in _failed():
            counts[binding.merchant_id] += 1
        return [(db.session.get(Merchant, mid), n) for mid, n in sorted(counts.items())]

    # -- actions ---------------------------------------------------------------------------------

    @expose("/action/", methods=("POST",))
    def action_view(self):
        """Flask-Admin's bulk action, then back to the list with the queued job's outcome box."""
        response = super().action_view()
        job = g.get("queued_job")
        if job and getattr(response, "location", None):
            joiner = "&" if "?" in response.location else "?"
            response.location = f"{response.location}{joiner}{urlencode({'job': job})}"
        return response

    @action("retry", "Retry selected", "Retry the selected products now?")
    def action_retry(self, ids: list[str]) -> None:
        wanted = [int(i) for i in ids if str(i).isdigit()]
        self._flash_retries(enqueue_retries(_failed(wanted), current_user.email))

    @expose("/retry-merchant/<int:merchant_id>", methods=("POST",))
    def retry_merchant(self, merchant_id: int):
        """Retry every failed product of one merchant."""
        self.require_action_role()
        if db.session.get(Merchant, merchant_id) is None:
            abort(404)
        self._flash_retries(enqueue_retries(_failed(merchant_id=merchant_id), current_user.email))
        return redirect(url_for(".index_view", job=g.get("queued_job")))

    @expose("/retry-filtered", methods=("POST",))
    def retry_filtered(self):
        """Retry every failed product the current search and filters show (the query string
        of this POST is the list's)."""
        self.require_action_role()
        self._flash_retries(enqueue_retries(self.filtered_failures(), current_user.email))
        return redirect(url_for(".index_view", **{**request.args, "job": g.get("queued_job")}))

    @expose("/link/<int:binding_id>", methods=("POST",))
    def link(self, binding_id: int):
        """Link a failed product to an existing BigCommerce product (by its id)."""
        self.require_action_role()
        binding = self.get_one(str(binding_id))
        if binding is None:
            abort(404)
        raw = (request.form.get("bc_product_id") or "").strip()
        if not raw.isdigit() or int(raw) <= 0:
            flash("Enter the BigCommerce product id (a whole number).", "error")
            return redirect(url_for(".index_view"))
        bc_product_id = int(raw)
        audit(
            "sync.link_requested",
            actor_type="staff",
            actor=current_user.email,
            merchant=binding.merchant,
            binding_id=binding.id,
            bindo_product_id=binding.bindo_product_id,
            bc_product_id=bc_product_id,
        )
        record = enqueue(
            LINK_JOB,
            binding.merchant_id,
            binding.bindo_product_id,
            bc_product_id,
            current_user.email,
            job_id=make_job_id("link_product", binding.merchant_id, binding.bindo_product_id),
            merchant_id=binding.merchant_id,
        )
        flash(
            f"Link queued: Bindo #{binding.bindo_product_id} of {_store(binding.merchant)} "
            f"to BC #{bc_product_id}.",
            "info",
        )
        return redirect(url_for(".index_view", job=record.job_id))

    @staticmethod
    def _flash_retries(done: list[tuple[Merchant, int]]) -> None:
        if not done:
            flash("No failed products selected: nothing was enqueued.", "warning")
            return
        parts = ", ".join(f"{n} of {_store(m)}" for m, n in done)
        flash(f"Retry enqueued for {sum(n for _, n in done)} product(s): {parts}.", "success")
