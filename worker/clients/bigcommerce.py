"""HTTP client for one BigCommerce store (REST v2 and v3), with pacing, retries and a breaker.

Knows HTTP and Redis only: configuration comes in through the constructor. The class is put
together from its parts: the request core (``bc_core``: :meth:`BigCommerceCore.request` owns
the retry policy described in ``docs/bigcommerce-client.md``) and the endpoint groups
(``bc_catalog``, ``bc_store``), whose high-level methods return plain dicts and lists.
"""

from __future__ import annotations

from worker.clients.bc_catalog import CatalogEndpoints
from worker.clients.bc_store import StoreEndpoints


class BigCommerceClient(CatalogEndpoints, StoreEndpoints):
    """Client for one store. Thread-safe as far as ``requests.Session`` is (one per worker)."""
