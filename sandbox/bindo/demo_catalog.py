# ruff: noqa: E501  (the catalog table reads best one product per line)
"""A realistic demo catalog for the Bindo simulator: every weight unit, category paths,
UPC and custom products, In Store Only items, zero/negative stock, two locations, and two
products with variants (sizes and colours, some with their own price and weight).
"""

from __future__ import annotations

from typing import Any

from sandbox.bindo.state import SimState

SECOND_LOCATION = "Harbour Mall"


def upc_a(first11: str) -> str:
    """Complete an 11-digit UPC-A prefix with its check digit."""
    digits = [int(c) for c in first11]
    odd = sum(digits[0::2])  # positions 1, 3, ... (1-based) weigh 3
    even = sum(digits[1::2])
    return first11 + str((10 - (odd * 3 + even) % 10) % 10)


# (name, price, kind, sku, category, weight, extra category attr, images, stock a, stock b,
#  in_store_only). kind "upc" rows get a UPC built from their index.
Row = tuple[str, str, str, str | None, str | None, str | None, str | None, int, str, str, bool]

# fmt: off
CATALOG: tuple[Row, ...] = (
    ("Trail Runner", "89.00", "custom", "SHOE-TR-1", "Shoes > Running", "2 lb", None, 3, "12", "4", False),
    ("Road Racer", "119.50", "custom", "SHOE-RR-2", "Shoes > Running", "2 lbs", "Sale", 2, "7", "0", False),
    ("Summit Hiker", "149.00", "custom", "SHOE-SH-3", "Shoes > Hiking", "1.5 kg", None, 4, "3", "2", False),
    ("Canyon Sandal", "45.00", "custom", "SHOE-CS-4", "Shoes > Sandals", "500 g", None, 1, "20", "15", False),
    ("Kids Sprinter", "39.99", "custom", "SHOE-KS-5", "Shoes > Kids", "12 oz", "Kids", 2, "0", "0", False),
    ("Wool Hiking Socks", "14.00", "upc", None, "Apparel > Socks", "3 ozs", None, 1, "40", "25", False),
    ("Merino Base Layer", "79.00", "upc", None, "Apparel > Base Layers", "300 g", None, 2, "9", "6", False),
    ("Rain Shell Jacket", "189.00", "custom", "APP-RSJ", "Apparel > Jackets", "1,5 kg", None, 3, "5", "-1", False),
    ("Down Parka", "299.00", "custom", "APP-DP", "Apparel > Jackets", "2 kgs", "Clearance", 4, "2", "1", False),
    ("Trucker Cap", "24.00", "upc", None, "Apparel > Hats", "3", None, 1, "30", "12", False),
    ("Beanie", "19.00", "upc", None, "Apparel > Hats", "4 oz", None, 2, "18", "0", False),
    ("Running Shorts", "35.00", "custom", "APP-RS", "Apparel", "8 oz", None, 2, "14", "10", False),
    ("Insulated Bottle 750ml", "32.00", "upc", None, "Gear > Hydration", "400 g", None, 2, "50", "20", False),
    ("Hydration Pack", "95.00", "custom", "GEAR-HP", "Gear > Hydration", "1.2 lb", None, 3, "6", "3", False),
    ("Trekking Poles (pair)", "129.00", "custom", "GEAR-TP", "Gear > Hiking", "1 lb", None, 2, "4", "4", False),
    ("Headlamp 300lm", "49.00", "upc", None, "Gear > Lighting", "90 g", None, 1, "22", "8", False),
    ("Camp Lantern", "59.00", "upc", None, "Gear > Lighting", "0.5 kg", None, 2, "-3", "5", False),
    ("Two-Person Tent", "349.00", "custom", "GEAR-T2", "Gear > Camping > Tents", "2.3 kg", None, 4, "2", "0", False),
    ("Sleeping Bag -5C", "229.00", "custom", "GEAR-SB5", "Gear > Camping", "1.1 kg", None, 3, "3", "2", False),
    ("Sleeping Pad", "119.00", "custom", "GEAR-SP", "Gear > Camping", "16 oz", None, 2, "8", "1", False),
    ("Camp Stove", "89.00", "upc", None, "Gear > Camping > Cooking", "12 ozs", None, 2, "5", "5", False),
    ("Fuel Canister 230g", "7.50", "upc", None, "Gear > Camping > Cooking", "368 g", None, 1, "60", "0", True),
    ("Titanium Spork", "12.00", "upc", None, "Gear > Camping > Cooking", "0.6 oz", None, 1, "100", "45", False),
    ("Trail Mix 250g", "5.99", "upc", None, "Food > Snacks", "250 g", None, 1, "2.5", "0", True),
    ("Energy Gel Box", "29.00", "upc", None, "Food > Nutrition", "1 lb", "Sale", 1, "12", "12", False),
    ("Freeze-dried Chili", "11.00", "upc", None, "Food > Meals", "5 oz", None, 1, "24", "9", False),
    ("Coffee Beans 1kg", "26.00", "upc", None, "Food > Drinks", "1 kg", None, 1, "0", "-2", False),
    ("Map: Coastal Trails", "9.00", "custom", "BOOK-MAP-CT", "Books & Maps", "2 oz", None, 1, "15", "3", False),
    ("Field Guide to Birds", "24.00", "upc", None, "Books & Maps > Guides", "1 lb", None, 2, "4", "2", False),
    ("Gift Card $50", "50.00", "custom", "GIFT-50", "Gift Cards", None, None, 1, "999", "999", False),
    ("Gift Card $100", "100.00", "custom", "GIFT-100", "Gift Cards", None, None, 1, "999", "999", False),
    ("Boot Repair Service", "40.00", "custom", "SVC-BOOT", "Services", None, None, 1, "0", "0", True),
    ("Ski Wax Tin", "15.00", "custom", "SKI-WAX", "Winter > Ski Care", "heavy", None, 1, "10", "4", False),
    ("Snowshoes", "199.00", "custom", "WIN-SNOW", "Winter", "2 stone", None, 3, "3", "0", False),
    ("Hand Warmers (10)", "12.00", "upc", None, "Winter", "7 oz", None, 1, "80", "40", False),
    ("Ice Axe", "139.00", "custom", "WIN-AXE", "Winter > Mountaineering", "450 g", None, 2, "1", "0", False),
    ("Crampons", "169.00", "custom", "WIN-CRMP", "Winter > Mountaineering", "1.8 lbs", None, 2, "2", "1", False),
    ("Demo Bike Rental (day)", "45.00", "custom", None, "Services > Rentals", None, None, 1, "0", "0", True),
    ("Chalk Bag", "22.00", "custom", "CLIMB-CB", None, "3 oz", "Climbing", 1, "11", "5", False),
    ("Carabiner Set", "54.00", "upc", None, "Climbing > Hardware", "0.75 lb", None, 2, "9", "0.5", False),
)
# fmt: on


# Products with variants (sizes and colours): (name, price, sku prefix, category, weight,
# options, per-variant overrides by SKU suffix).
VARIANT_PRODUCTS: tuple[tuple[str, str, str, str, str, dict[str, list[str]], dict], ...] = (
    (
        "Trail Tee",
        "29.00",
        "APP-TEE",
        "Apparel > Shirts",
        "180 g",
        {"Size": ["S", "M", "L"], "Colour": ["Red", "Blue"]},
        {
            "L-Red": {
                "price": "32.00",
                "custom_attributes": [{"name": "Weight", "value": "220 g"}],
            },
            "L-Blue": {
                "price": "32.00",
                "custom_attributes": [{"name": "Weight", "value": "220 g"}],
            },
        },
    ),
    (
        "Fleece Jacket",
        "99.00",
        "APP-FJ",
        "Apparel > Jackets",
        "600 g",
        {"Size": ["S", "M", "L", "XL"]},
        {"XL": {"price": "109.00"}},
    ),
)


def _variant_rows(
    sku: str, options: dict[str, list[str]], overrides: dict, first: int, second: int
) -> list[dict[str, Any]]:
    combos: list[list[tuple[str, str]]] = [[]]
    for option, values in options.items():
        combos = [combo + [(option, value)] for combo in combos for value in values]
    rows = []
    for n, combo in enumerate(combos):
        suffix = "-".join(value for _, value in combo)
        rows.append(
            {
                "option_values": [{"option": o, "value": v} for o, v in combo],
                "sku": f"{sku}-{suffix}",
                "stock": {first: str((n * 3) % 7), second: str(n % 3)},
                **overrides.get(suffix, {}),
            }
        )
    return rows


def _attributes(row: Row) -> list[dict[str, str]]:
    weight, category_attr = row[5], row[6]
    attrs = [{"name": "Brand", "value": "Northwind Outfitters"}]
    if weight is not None:
        attrs.append({"name": "Weight", "value": weight})
    if category_attr is not None:
        attrs.append({"name": "Category", "value": category_attr})
    return attrs


def build_demo_catalog(
    sim_state: SimState, store_id: str, image_base_url: str
) -> list[dict[str, Any]]:
    """Seed ``store_id`` (which must exist) with the demo catalog; returns the products.

    Gives the store a second location when it has fewer than two.
    """
    while len(sim_state.describe_store(store_id)["locations"]) < 2:
        have = len(sim_state.describe_store(store_id)["locations"])
        sim_state.add_location(store_id, "Main Street" if have == 0 else SECOND_LOCATION)
    first, second = (loc["id"] for loc in sim_state.describe_store(store_id)["locations"][:2])
    products = []
    for index, row in enumerate(CATALOG):
        name, price, kind, sku, category, _, _, images, qty_a, qty_b, in_store_only = row
        products.append(
            sim_state.create_product(
                store_id,
                image_count=images,
                image_base_url=image_base_url,
                stock={first: qty_a, second: qty_b},
                name=name,
                description=f"<p>{name}: built for the trail by Northwind Outfitters.</p>",
                price=price,
                kind=kind,
                sku=sku,
                upc=upc_a(f"0{85000 + index:05d}{index:05d}") if kind == "upc" else None,
                category=category,
                custom_attributes=_attributes(row),
                in_store_only=in_store_only,
            )
        )
    for name, price, sku, category, weight, options, overrides in VARIANT_PRODUCTS:
        products.append(
            sim_state.create_product(
                store_id,
                image_count=2,
                image_base_url=image_base_url,
                name=name,
                description=f"<p>{name}: in every size, by Northwind Outfitters.</p>",
                price=price,
                sku=sku,
                category=category,
                custom_attributes=[{"name": "Weight", "value": weight}],
                options=[{"name": o, "values": v} for o, v in options.items()],
                variants=_variant_rows(sku, options, overrides, first, second),
            )
        )
    return products
