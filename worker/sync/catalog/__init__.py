"""Catalog sync, Bindo -> BigCommerce, one module per role (docs/catalog-sync.md):

- engine:   CatalogSync, the export skeleton (fetch -> map -> hash -> lock -> write -> bind)
- writer:   the engine's write side (link or create, batched updates and hides, binding stamps)
- report:   Outcome / SyncReport, count keys and SyncRunItem actions
- errors:   a product's error columns (record_error / clear_error), NameClash
- locks:    per-product Redis write locks
- drift:    BigCommerce values of Bindo-owned fields vs what we pushed
- binder:   staff links and hash invalidation (operations on ProductBindings)
- handlers: webhook handlers, catalog job names, the periodic reconcile check

The RQ entry points are in worker.jobs.catalog. Importing this package registers the
handlers with the inbox dispatcher and the reconcile check with worker.periodic.
"""

from worker.sync.catalog import handlers  # noqa: F401  (registers handlers and the periodic check)
