"""Category ids for the catalog sync: CategoryRef paths -> BigCommerce category ids.

One resolver per run. It answers from the CategoryCache table first (0 requests), reads the
store's default category tree only when a path is not cached (2 requests, once per run), and
creates a missing path once per store, parents first, caching every level it finds or makes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import CategoryCache, Merchant
from shared.mapping import CategoryIndex, CategoryRef, MappingError, normalise_category_name
from worker.clients.bigcommerce import BigCommerceClient
from worker.clients.errors import ApiError

log = logging.getLogger(__name__)

PATH_KEY_SEPARATOR = " > "
MAX_PATH_KEY = 512  # CategoryCache.path_key length


def path_key(path: Sequence[str]) -> str:
    """Cache key of a path: normalised names (case and spacing blind), joined with ' > '."""
    return PATH_KEY_SEPARATOR.join(normalise_category_name(p) for p in path)[:MAX_PATH_KEY]


class CategoryResolver:
    """Resolve CategoryRefs of one merchant during one run.

    ``create_missing`` False (dry runs, or the merchant turned creation off) never writes:
    a missing path is a MappingError (``category_not_found``) or, for dry runs, reported
    through :attr:`would_create`.
    """

    def __init__(
        self,
        merchant: Merchant,
        client: BigCommerceClient,
        *,
        create_missing: bool,
        dry_run: bool = False,
    ) -> None:
        self.merchant = merchant
        self.client = client
        self.create_missing = create_missing
        self.dry_run = dry_run
        self.would_create: set[str] = set()
        self._cache: dict[str, int] | None = None
        self._categories: list[dict[str, Any]] | None = None
        self._index: CategoryIndex | None = None
        self._tree_id: int | None = None

    # -- public ----------------------------------------------------------------------------

    def resolve(self, ref: CategoryRef, bindo_id: int) -> list[int]:
        """Category ids for one product (always one id); raises MappingError when impossible."""
        if ref.category_id is not None:
            return [int(ref.category_id)]
        path = tuple(ref.path or ())
        key = path_key(path)
        cached = self._cached().get(key)
        if cached is not None:
            return [cached]
        leaf, missing, parent = self._index_now().resolve(path)
        if leaf is not None:
            self._remember(key, leaf)
            return [leaf]
        if self.dry_run:
            self.would_create.add(PATH_KEY_SEPARATOR.join(path))
            return [0]  # placeholder id: dry runs never send a payload
        if not self.create_missing:
            raise MappingError(
                "category",
                f"Category '{PATH_KEY_SEPARATOR.join(path)}' does not exist in BigCommerce and "
                "the app is set not to create missing categories: create it in BigCommerce, "
                "turn on 'Create missing categories' in the app settings, or pick an existing "
                "category in Bindo",
                code="category_not_found",
                value=PATH_KEY_SEPARATOR.join(path),
                product_id=bindo_id,
            )
        leaf = self._create_path(path, missing, parent, bindo_id)
        self._remember(key, leaf)
        return [leaf]

    def forget(self, category_ids: Sequence[int]) -> None:
        """Drop cache rows that point at ids BigCommerce no longer knows (409 on categories)."""
        ids = {int(i) for i in category_ids}
        rows = db.session.scalars(
            select(CategoryCache).where(
                CategoryCache.merchant_id == self.merchant.id,
                CategoryCache.bc_category_id.in_(ids),
            )
        ).all()
        for row in rows:
            db.session.delete(row)
        db.session.commit()
        self._cache = None
        self._categories = None
        self._index = None

    # -- internals -------------------------------------------------------------------------

    def _cached(self) -> dict[str, int]:
        if self._cache is None:
            rows = db.session.execute(
                select(CategoryCache.path_key, CategoryCache.bc_category_id).where(
                    CategoryCache.merchant_id == self.merchant.id
                )
            ).all()
            self._cache = {key: int(cid) for key, cid in rows}
        return self._cache

    def _tree(self) -> int:
        if self._tree_id is None:
            tree_id = self.client.get_default_tree_id()
            if tree_id is None:
                raise MappingError(
                    "category",
                    "The BigCommerce store has no category tree for its default storefront",
                    code="category_tree_missing",
                )
            self._tree_id = tree_id
        return self._tree_id

    def _index_now(self, refresh: bool = False) -> CategoryIndex:
        """The per-run index of the default tree, read at most once (or on refresh)."""
        if self._categories is None or refresh:
            self._categories = list(self.client.iter_categories(self._tree()))
            self._index = None
        if self._index is None:
            self._index = CategoryIndex(self._categories)
        return self._index

    def _remember(self, key: str, category_id: int) -> None:
        """Cache a resolved path; a concurrent job caching the same path first is fine."""
        self._cached()[key] = category_id
        if self.dry_run:
            return
        db.session.add(
            CategoryCache(merchant_id=self.merchant.id, path_key=key, bc_category_id=category_id)
        )
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()

    def _create_path(
        self, path: tuple[str, ...], missing: list[str], parent: int, bindo_id: int
    ) -> int:
        """Create the missing levels one request per level (each needs its parent's id)."""
        depth = len(path) - len(missing)
        for name in missing:
            depth += 1
            parent = self._create_one(name, parent, path[:depth], bindo_id)
        return parent

    def _create_one(self, name: str, parent: int, prefix: tuple[str, ...], bindo_id: int) -> int:
        item: dict[str, Any] = {"name": name, "parent_id": parent, "tree_id": self._tree()}
        outcome = self.client.create_categories([item]).results.get(0)
        if isinstance(outcome, ApiError):
            # Another job may have created the same category a moment ago (sibling names are
            # unique): read the tree again before calling it an error.
            leaf, still_missing, _ = self._index_now(refresh=True).resolve(prefix)
            if leaf is not None and not still_missing:
                return leaf
            raise MappingError(
                "category",
                f"BigCommerce refused to create category '{PATH_KEY_SEPARATOR.join(prefix)}': "
                f"{outcome.title or outcome.message} {outcome.errors or ''}".strip(),
                code="category_create_failed",
                value=PATH_KEY_SEPARATOR.join(prefix),
                product_id=bindo_id,
            )
        assert isinstance(outcome, dict)
        new_id = int(outcome.get("category_id", outcome.get("id")))
        self._categories = [
            *(self._categories or []),
            {"category_id": new_id, "parent_id": parent, "name": name},
        ]
        self._index = None
        log.info("created category %r (id %s) for %s", name, new_id, self.merchant.store_hash)
        return new_id
