"""GET /v2/store: the store information object, with weight units taken from the store."""

from __future__ import annotations

from typing import Any

from .state import BCSimState, Store

DIMENSION_UNITS = {"LBS": "Inches", "Ounces": "Inches"}


def store_information(state: BCSimState, store: Store) -> dict[str, Any]:
    domain = f"{store.store_hash}.mybigcommerce.example"
    return {
        "id": store.store_hash,
        "account_uuid": state.config.account_uuid,
        "domain": domain,
        "secure_url": f"https://{domain}",
        "control_panel_base_url": f"https://store-{store.store_hash}.mybigcommerce.example",
        "status": "live",
        "name": store.name,
        "first_name": "Store",
        "last_name": "Owner",
        "address": "1 Main St, Austin, TX 78701",
        "country": "United States",
        "country_code": "US",
        "infrastructure_region": "us-central1",
        "phone": "5550100",
        "admin_email": store.owner_email,
        "order_email": store.owner_email,
        "favicon_url": "",
        "timezone": {
            "name": "Etc/UTC",
            "raw_offset": 0,
            "dst_offset": 0,
            "dst_correction": False,
            "date_format": {
                "display": "jS M Y",
                "export": "M jS Y",
                "extended_display": "M jS Y @ g:i A",
            },
        },
        "language": "en",
        "currency": "USD",
        "currency_symbol": "$",
        "decimal_separator": ".",
        "thousands_separator": ",",
        "decimal_places": 2,
        "currency_symbol_location": "left",
        "weight_units": store.weight_units,
        # Imperial weight units go with inches; metric ones with centimeters.
        "dimension_units": DIMENSION_UNITS.get(store.weight_units, "Centimeters"),
        "dimension_decimal_places": 2,
        "dimension_decimal_token": ".",
        "dimension_thousands_token": ",",
        "plan_name": "Standard",
        "plan_level": "Standard",
        "plan_is_trial": False,
        "industry": "Retail",
        "logo": [],
        "is_price_entered_with_tax": False,
        "store_id": store.store_id,
        "default_channel_id": 1,
        "default_site_id": 1000,
        "active_comparison_modules": [],
        "features": {
            "stencil_enabled": True,
            "sitewidehttps_enabled": True,
            "facebook_catalog_id": "",
            "checkout_type": "optimized",
            "wishlists_enabled": False,
            "graphql_storefront_api_enabled": True,
            "shopper_consent_tracking_enabled": False,
            "multi_storefront_enabled": store.multi_storefront,
            "storefront_limits": {
                "active": len(store.channels),
                "total_including_inactive": len(store.channels),
            },
        },
    }
