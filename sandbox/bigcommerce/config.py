"""Configuration of the BigCommerce simulator (every time window is scalable for tests)."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_SCOPES = (
    "store_v2_products store_v2_orders_read_only store_v2_information_read_only store_inventory"
)
# BigCommerce's documented webhook retry delays in seconds (CONTRACT §9.4).
RETRY_SCHEDULE = (60, 180, 300, 600, 900, 1800, 3600, 7200, 21600, 50400, 86400)


@dataclass
class BCSimConfig:
    """Knobs of one simulator instance; defaults mirror a Standard-plan store."""

    client_id: str = "sim-client-id"
    client_secret: str = "sim-client-secret"
    app_url: str = "http://127.0.0.1:5000"
    account_uuid: str = "12345678-90ab-cdef-1234-567890abcdef"
    scopes: str = DEFAULT_SCOPES
    # Real installs often grant more than the app profile asks for (issue 15 item 1).
    extra_granted_scopes: str = "store_v2_default users_basic_information"
    # Negative-test switches for the OAuth flow.
    install_scope_override: str | None = None
    token_context_override: str | None = None
    code_ttl_seconds: float = 600.0
    # Rate limit: fixed window per store.
    rate_limit_quota: int = 150
    rate_limit_window_ms: int = 30_000
    # Webhooks: real delays are multiplied by time_scale (0.001 in tests).
    time_scale: float = 1.0
    retry_schedule: tuple[float, ...] = field(default=RETRY_SCHEDULE)
    webhook_timeout: float = 5.0
    # Whether new stores have Multi-Storefront enabled (a store can say otherwise when it is
    # created): channels 1 and 2, `features.multi_storefront_enabled` true in GET /v2/store,
    # and a product created through the API is on no channel (not sellable) until assigned
    # (channel-assignments API). UNCONFIRMED whether real MSF stores auto-assign API-created
    # products to channel 1, so True, the harsher case, is the default. A store without
    # Multi-Storefront has one storefront, and API-created products are on it (channel 1).
    multi_storefront: bool = True
    # Inventory API writes to a tracked product's level also fire store/product/updated, as
    # the catalog's do (g-ev lists "inventory level (if tracked)"); off only to isolate a test.
    product_updated_on_inventory_writes: bool = True
    # Real BigCommerce accepts hook destinations only on https, port 443. Demo mode (the local
    # demo, the tests, the benches) also accepts http on loopback ports.
    demo_mode: bool = False
    # Standard Webhooks signature headers on deliveries. Only BigCommerce's sample code shows
    # them (UNCONFIRMED); False models the harsher case: the custom headers are all there is.
    sign_webhooks: bool = True
    # Outbound fetches (image downloads, callback GETs).
    image_timeout: float = 3.0
    image_max_bytes: int = 8 * 1024 * 1024
    callback_timeout: float = 5.0
    # Inventory writes become visible this many seconds after the 200 (eventual consistency).
    inventory_apply_delay: float = 0.0
    # Empty v2 lists: real BigCommerce is believed to answer 204; the spec documents 200 [].
    v2_empty_list_204: bool = False
    # The "timeout" fault sleeps this long (unless the fault gives its own delay).
    fault_timeout_delay: float = 5.0

    def granted_scopes(self) -> str:
        """The profile's scopes plus the extras real installs commonly add."""
        return " ".join(f"{self.scopes} {self.extra_granted_scopes}".split())
