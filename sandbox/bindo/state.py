"""In-memory Bindo back office: stores, catalog, stock, customers, orders, webhooks.

Everything sits behind one re-entrant lock so concurrent API calls (and tests driving the
Python API) see atomic changes; every change a merchant or an order makes fires webhooks.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.bindo.config import BindoSimConfig
from sandbox.bindo.delivery import Dispatcher

EVENT_TYPES = ("product.created", "product.updated", "product.deleted", "inventory.updated")
PRODUCT_FIELDS = (
    "name",
    "description",
    "price",
    "sku",
    "upc",
    "kind",
    "category",
    "custom_attributes",
    "in_store_only",
)
VARIANT_FIELDS = ("option_values", "sku", "upc", "price", "custom_attributes")
DEFAULT_LOCATIONS = ({"id": 10, "name": "Main Street"},)


class SimError(Exception):
    """A request the API answers with a JSON error (status, code, message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(what: str) -> SimError:
    return SimError(404, "not_found", f"{what} not found")


def invalid(message: str) -> SimError:
    return SimError(422, "validation_failed", message)


def bad_request(message: str) -> SimError:
    """A field of the wrong JSON type (Bindo's 400 ``bad_request``, as for malformed JSON)."""
    return SimError(400, "bad_request", message)


def attribute_list(value: Any) -> list[dict[str, str]]:
    """``custom_attributes`` must be a list of ``{"name", "value"}`` objects."""
    if not isinstance(value, list) or not all(
        isinstance(a, dict) and "name" in a and "value" in a for a in value
    ):
        raise bad_request('custom_attributes must be a list of {"name", "value"} objects')
    return [{"name": str(a["name"]), "value": str(a["value"])} for a in value]


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with a Z, to the second (as Bindo publishes timestamps)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def money(value: Any) -> str:
    """A decimal string with two places ("12.50"); rejects what is not a number."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise invalid(f"not a decimal amount: {value!r}") from None
    if not amount.is_finite():
        raise invalid(f"not a decimal amount: {value!r}")
    return str(amount.quantize(Decimal("0.01")))


def qty_str(value: Decimal) -> str:
    """Stock as a decimal string that always has a point ("3.0", "-2.0", "1.25")."""
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def to_decimal(value: Any) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise invalid(f"not a decimal quantity: {value!r}") from None
    if not result.is_finite():
        raise invalid(f"not a decimal quantity: {value!r}")
    return result


def public(record: Mapping[str, Any]) -> dict[str, Any]:
    """A deep-ish copy without simulator-internal keys (those starting with '_')."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key.startswith("_"):
            continue
        if isinstance(value, list):
            value = [public(v) if isinstance(v, Mapping) else v for v in value]
        elif isinstance(value, Mapping):
            value = public(value)
        out[key] = value
    return out


@dataclass
class Store:
    """One merchant's Bindo account."""

    store_id: str
    token: str
    webhook_secret: str
    locations: dict[int, dict[str, Any]] = field(default_factory=dict)
    products: dict[int, dict[str, Any]] = field(default_factory=dict)
    stock: dict[tuple[int, int], Decimal] = field(default_factory=dict)
    # Products with variants count stock per variant: (variant_id, location_id) -> quantity.
    variant_stock: dict[tuple[int, int], Decimal] = field(default_factory=dict)
    customers: dict[int, dict[str, Any]] = field(default_factory=dict)
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    orders_by_ref: dict[str, int] = field(default_factory=dict)
    webhooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


class SimState:
    """The simulator's whole world plus the Python API tests and the demo drive it with."""

    def __init__(self, config: BindoSimConfig | None = None) -> None:
        self.config = config or BindoSimConfig()
        self.public_url = self.config.public_url
        self.lock = threading.RLock()
        self.stores: dict[str, Store] = {}
        self.dispatcher = Dispatcher(self.config)
        self.api_faults: list[dict[str, Any]] = []
        self._ids = {
            name: itertools.count(start)
            for name, start in (
                ("product", 101),
                ("variant", 5001),
                ("image", 9001),
                ("customer", 1),
                ("order", 1),
                ("line", 1),
                ("refund", 1),
                ("webhook", 1),
                ("location", 10),
            )
        }

    def _next(self, kind: str) -> int:
        return next(self._ids[kind])

    def now(self) -> datetime:
        return self.config.clock()

    # -- stores -----------------------------------------------------------------------

    def create_store(
        self,
        store_id: str,
        token: str,
        webhook_secret: str,
        locations: Iterable[Mapping[str, Any] | str] | None = None,
    ) -> dict[str, Any]:
        """Create (or replace) a store; locations are ``{"id", "name"}`` dicts or names."""
        with self.lock:
            store = Store(store_id, token, webhook_secret)
            self.stores[store_id] = store
            for loc in DEFAULT_LOCATIONS if locations is None else locations:
                if isinstance(loc, str):
                    self.add_location(store_id, loc)
                else:
                    self.add_location(store_id, loc["name"], loc.get("id"))
            return self.describe_store(store_id)

    def add_location(self, store_id: str, name: str, location_id: int | None = None) -> dict:
        with self.lock:
            store = self.store(store_id)
            if location_id is None:
                location_id = self._next("location")
                while any(location_id in s.locations for s in self.stores.values()):
                    location_id = self._next("location")
            store.locations[location_id] = {"id": location_id, "name": name}
            return dict(store.locations[location_id])

    def set_token(self, store_id: str, token: str) -> None:
        """Rotate the API token (the old one starts answering 401)."""
        with self.lock:
            self.store(store_id).token = token

    def store(self, store_id: str) -> Store:
        try:
            return self.stores[store_id]
        except KeyError:
            raise not_found(f"store {store_id}") from None

    def describe_store(self, store_id: str) -> dict[str, Any]:
        with self.lock:
            store = self.store(store_id)
            return {
                "store_id": store.store_id,
                "locations": list(store.locations.values()),
                "webhooks": list(store.webhooks.values()),
            }

    # -- products ---------------------------------------------------------------------

    def image_base(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.config.port}").rstrip("/")

    def render_product(self, product: Mapping[str, Any], base_url: str | None = None) -> dict:
        """The product as the API shows it; generated images point at ``base_url``."""
        base = (base_url or self.image_base()).rstrip("/")
        out = public(product)
        out["images"] = [
            {
                "id": img["id"],
                "url": img.get("_url") or f"{base}/images/{img['id']}.png",
                "position": img["position"],
            }
            for img in sorted(product["images"], key=lambda i: i["position"])
        ]
        if not product.get("variants"):
            # Products without variants look exactly as they did before variants existed.
            out.pop("options", None)
            out.pop("variants", None)
        return out

    def create_product(
        self,
        store_id: str,
        *,
        image_count: int = 1,
        image_urls: Iterable[str] = (),
        image_base_url: str | None = None,
        stock: Mapping[int, Any] | None = None,
        options: Iterable[Mapping[str, Any]] | None = None,
        variants: Iterable[Mapping[str, Any]] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Add a product (fires product.created, then inventory.updated per stocked location).

        ``image_count`` images are generated and served by the simulator; ``image_urls``
        adds images hosted elsewhere. ``image_base_url`` pins the generated images' URLs
        (otherwise they follow the host each request came in on). ``stock`` maps location
        id to quantity. ``options`` (``{"name", "values"}``) and ``variants`` (variant fields
        plus their own ``stock``) make a product with variants; its stock is per variant.
        """
        with self.lock:
            store = self.store(store_id)
            unknown = set(fields) - set(PRODUCT_FIELDS)
            if unknown:
                raise invalid(f"unknown product fields: {sorted(unknown)}")
            product: dict[str, Any] = {
                "id": 0,  # taken below, once the fields are known to be valid
                "name": "Untitled product",
                "description": "",
                "price": "0.00",
                "sku": None,
                "upc": None,
                "kind": "custom",
                "category": None,
                "custom_attributes": [],
                "images": [],
                "in_store_only": False,
                "deleted": False,
                "updated_at": iso(self.now()),
            }
            self._apply_fields(product, fields)
            product["id"] = self._next("product")
            if fields.get("upc") and "kind" not in fields:
                product["kind"] = "upc"
            variant_rows = list(variants or [])
            if variant_rows and stock:
                raise invalid("a product with variants keeps its stock on the variants")
            product["options"] = self._clean_options(options or [])
            product["variants"] = []
            variant_stock = []
            for row in variant_rows:
                row = dict(row)
                variant_stock.append(row.pop("stock", None) or {})
                product["variants"].append(self._new_variant(product, row))
            urls: list[str | None] = [None] * image_count + list(image_urls)
            for pos, url in enumerate(urls, start=1):
                image_id = self._next("image")
                if url is None and image_base_url:
                    url = f"{image_base_url.rstrip('/')}/images/{image_id}.png"
                product["images"].append({"id": image_id, "position": pos, "_url": url})
            store.products[product["id"]] = product
            self._emit(store, "product.created", {"product_id": product["id"]})
            for location_id, qty in (stock or {}).items():
                self._set_stock(store, product["id"], int(location_id), to_decimal(qty))
            for variant, levels in zip(product["variants"], variant_stock, strict=True):
                for location_id, qty in levels.items():
                    loc = self._location(store, location_id)
                    self._set_variant_stock(store, product, variant["id"], loc, to_decimal(qty))
            return self.render_product(product)

    # -- variants ---------------------------------------------------------------------

    @staticmethod
    def _clean_options(options: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        cleaned: list[dict[str, Any]] = []
        for option in options:
            if not isinstance(option, Mapping) or not str(option.get("name") or "").strip():
                raise invalid("each option needs a name")
            values = [str(v) for v in option.get("values") or []]
            if not values:
                raise invalid(f"option {option['name']!r} needs values")
            cleaned.append({"name": str(option["name"]).strip(), "values": values})
        names = [o["name"].casefold() for o in cleaned]
        if len(set(names)) != len(names):
            raise invalid("option names must be unique")
        return cleaned

    def _check_option_values(self, product: dict[str, Any], values: Any) -> list[dict]:
        """``[{"option", "value"}]``: one value of every option, each one of its values."""
        options = {o["name"]: o for o in product["options"]}
        if not options:
            raise invalid("add options to the product before variants")
        if not isinstance(values, list):
            raise invalid("option_values must be a list")
        chosen: dict[str, str] = {}
        for item in values:
            if not isinstance(item, Mapping) or item.get("option") not in options:
                raise invalid(f"unknown option in {item!r}")
            value = str(item.get("value"))
            if value not in options[item["option"]]["values"]:
                raise invalid(f"{value!r} is not a value of option {item['option']!r}")
            chosen[item["option"]] = value
        if set(chosen) != set(options):
            raise invalid(f"a variant needs one value of each option {sorted(options)}")
        for other in product["variants"]:
            if other["deleted"]:
                continue
            if {v["option"]: v["value"] for v in other["option_values"]} == chosen:
                raise SimError(409, "conflict", f"variant {other['id']} has these options")
        # Listed in the product's option order.
        return [{"option": o["name"], "value": chosen[o["name"]]} for o in product["options"]]

    def _apply_variant_fields(
        self, product: dict[str, Any], variant: dict[str, Any], fields: Mapping[str, Any]
    ) -> None:
        for key, value in fields.items():
            if key not in VARIANT_FIELDS:
                raise invalid(f"unknown variant field: {key}")
            if key == "option_values":
                value = self._check_option_values(product, value)
            elif key == "price":
                value = None if value is None else money(value)  # None: the product's price
            elif key == "custom_attributes":
                value = [{"name": str(a["name"]), "value": str(a["value"])} for a in value or []]
            variant[key] = value

    def _new_variant(self, product: dict[str, Any], fields: Mapping[str, Any]) -> dict:
        if "option_values" not in fields:
            raise invalid("a variant needs option_values")
        variant: dict[str, Any] = {
            "id": self._next("variant"),
            "option_values": [],
            "sku": None,
            "upc": None,
            "price": None,
            "custom_attributes": [],
            "deleted": False,
            "updated_at": iso(self.now()),
        }
        self._apply_variant_fields(product, variant, fields)
        return variant

    def _variant(self, product: dict[str, Any], variant_id: Any) -> dict[str, Any]:
        for variant in product.get("variants") or []:
            if str(variant["id"]) == str(variant_id):
                return variant
        raise not_found(f"variant {variant_id} of product {product['id']}")

    def _touch(self, store: Store, product: dict[str, Any]) -> dict[str, Any]:
        product["updated_at"] = iso(self.now())
        self._emit(store, "product.updated", {"product_id": product["id"]})
        return self.render_product(product)

    def set_options(
        self, store_id: str, product_id: int, options: Iterable[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Replace the option list (values may only be added while variants use them)."""
        with self.lock:
            store = self.store(store_id)
            product = self._product(store, product_id)
            cleaned = self._clean_options(options)
            by_name = {o["name"]: set(o["values"]) for o in cleaned}
            for variant in product.get("variants") or []:
                for item in variant["option_values"]:
                    if not variant["deleted"] and item["value"] not in by_name.get(
                        item["option"], ()
                    ):
                        raise invalid(f"variant {variant['id']} uses {item['value']!r}")
            product["options"] = cleaned
            return self._touch(store, product)

    def add_variant(
        self,
        store_id: str,
        product_id: int,
        stock: Mapping[Any, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A new variant on a product with options (fires product.updated)."""
        with self.lock:
            store = self.store(store_id)
            product = self._product(store, product_id)
            if not product.get("variants") and any(
                q for (pid, _), q in store.stock.items() if pid == product["id"]
            ):
                raise invalid("this product counts stock itself: it cannot get variants")
            product.setdefault("variants", [])
            variant = self._new_variant(product, fields)
            product["variants"].append(variant)
            rendered = self._touch(store, product)
            for location_id, qty in (stock or {}).items():
                loc = self._location(store, location_id)
                self._set_variant_stock(store, product, variant["id"], loc, to_decimal(qty))
            return rendered

    def update_variant(
        self, store_id: str, product_id: int, variant_id: int, **fields: Any
    ) -> dict[str, Any]:
        """Edit a variant (fires product.updated)."""
        with self.lock:
            store = self.store(store_id)
            product = self._product(store, product_id)
            variant = self._variant(product, variant_id)
            if "option_values" in fields:
                variant["deleted"] = True  # so it does not clash with itself
                try:
                    self._apply_variant_fields(product, variant, fields)
                finally:
                    variant["deleted"] = False
            else:
                self._apply_variant_fields(product, variant, fields)
            variant["updated_at"] = iso(self.now())
            return self._touch(store, product)

    def delete_variant(self, store_id: str, product_id: int, variant_id: int) -> dict:
        """Soft-delete a variant (kept with deleted=true, like products; product.updated)."""
        with self.lock:
            store = self.store(store_id)
            product = self._product(store, product_id)
            variant = self._variant(product, variant_id)
            variant["deleted"] = True
            variant["updated_at"] = iso(self.now())
            return self._touch(store, product)

    def _set_variant_stock(
        self, store: Store, product: dict[str, Any], variant_id: int, location_id: int, qty
    ) -> None:
        store.variant_stock[(variant_id, location_id)] = qty
        data = {
            "product_id": product["id"],
            "variant_id": variant_id,
            "location_id": location_id,
            "quantity": qty_str(qty),
        }
        self._emit(store, "inventory.updated", data)

    def _adjust_line_stock(
        self, store: Store, product_id: int, variant_id: int | None, location_id: int, delta
    ) -> None:
        """Move stock of a product, or of one of its variants when ``variant_id`` is set."""
        if variant_id is None:
            self._adjust_stock(store, product_id, location_id, delta)
            return
        current = store.variant_stock.get((variant_id, location_id), Decimal(0))
        product = store.products[product_id]
        self._set_variant_stock(
            store, product, variant_id, location_id, current + to_decimal(delta)
        )

    def _apply_fields(self, product: dict[str, Any], fields: Mapping[str, Any]) -> None:
        """Validate every field first, so a refused request changes nothing."""
        values: dict[str, Any] = {}
        for key, value in fields.items():
            if key not in PRODUCT_FIELDS:
                raise invalid(f"unknown product field: {key}")
            if key == "price":
                value = money(value)
            elif key == "kind" and value not in ("custom", "upc"):
                raise invalid("kind must be 'custom' or 'upc'")
            elif key == "custom_attributes":
                value = attribute_list(value)
            elif key == "in_store_only":
                value = bool(value)
            values[key] = value
        product.update(values)

    def _product(self, store: Store, product_id: int) -> dict[str, Any]:
        try:
            return store.products[int(product_id)]
        except (KeyError, ValueError):
            raise not_found(f"product {product_id}") from None

    def get_product(
        self, store_id: str, product_id: int, base_url: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            product = self._product(self.store(store_id), product_id)
            return self.render_product(product, base_url)

    def update_product(self, store_id: str, product_id: int, **fields: Any) -> dict[str, Any]:
        """Edit fields in the back office (fires product.updated)."""
        with self.lock:
            store = self.store(store_id)
            product = self._product(store, product_id)
            self._apply_fields(product, fields)
            product["updated_at"] = iso(self.now())
            self._emit(store, "product.updated", {"product_id": product["id"]})
            return self.render_product(product)

    def reorder_images(
        self, store_id: str, product_id: int, image_ids: Iterable[int]
    ) -> dict[str, Any]:
        """Put the product's images in this order (the first is the thumbnail); product.updated.

        ``image_ids`` must name every image of the product exactly once.
        """
        with self.lock:
            store = self.store(store_id)
            product = self._product(store, product_id)
            try:
                order = [int(i) for i in image_ids]
            except (TypeError, ValueError):
                raise bad_request("image ids must be integers") from None
            by_id = {img["id"]: img for img in product["images"]}
            if sorted(order) != sorted(by_id):
                raise invalid(f"the order must list each of the images {sorted(by_id)} once")
            for pos, image_id in enumerate(order, start=1):
                by_id[image_id]["position"] = pos
            product["updated_at"] = iso(self.now())
            self._emit(store, "product.updated", {"product_id": product["id"]})
            return self.render_product(product)

    def set_in_store_only(self, store_id: str, product_id: int, value: bool = True) -> dict:
        """Mark a product In Store Only (it should leave the web store); product.updated."""
        return self.update_product(store_id, product_id, in_store_only=value)

    def delete_product(self, store_id: str, product_id: int) -> dict[str, Any]:
        """Soft-delete: the API keeps returning it with deleted=true (product.deleted)."""
        with self.lock:
            store = self.store(store_id)
            product = self._product(store, product_id)
            product["deleted"] = True
            product["updated_at"] = iso(self.now())
            self._emit(store, "product.deleted", {"product_id": product["id"]})
            return self.render_product(product)

    def list_products(
        self,
        store_id: str,
        *,
        updated_since: datetime | None = None,
        ids: Iterable[int] | None = None,
        include_deleted: bool = False,
    ) -> list[dict[str, Any]]:
        """Raw product records ordered by id (stable under edits, so paging is safe)."""
        with self.lock:
            store = self.store(store_id)
            wanted = None if ids is None else set(ids)
            since = None if updated_since is None else iso(updated_since)
            return [
                p
                for pid, p in sorted(store.products.items())
                if (wanted is None or pid in wanted)
                and (include_deleted or not p["deleted"])
                # Same-format UTC strings compare chronologically; >= so nothing is missed.
                and (since is None or p["updated_at"] >= since)
            ]

    # -- stock ------------------------------------------------------------------------

    def _location(self, store: Store, location_id: Any) -> int:
        try:
            loc = int(location_id)
        except (TypeError, ValueError):
            raise invalid(f"bad location_id: {location_id!r}") from None
        if loc not in store.locations:
            raise SimError(422, "validation_failed", f"location {loc} does not exist")
        return loc

    def _set_stock(self, store: Store, product_id: int, location_id: int, qty: Decimal) -> None:
        store.stock[(product_id, location_id)] = qty
        data = {"product_id": product_id, "location_id": location_id, "quantity": qty_str(qty)}
        self._emit(store, "inventory.updated", data)

    def _adjust_stock(self, store: Store, product_id: int, location_id: int, delta: Any) -> None:
        current = store.stock.get((product_id, location_id), Decimal(0))
        self._set_stock(store, product_id, location_id, current + to_decimal(delta))

    def set_stock(
        self,
        store_id: str,
        product_id: int,
        location_id: int,
        qty: Any,
        variant_id: int | None = None,
    ) -> str:
        """Count stock in the back office (fires inventory.updated); returns the new qty.

        A product with variants counts per variant: ``variant_id`` is then required.
        """
        with self.lock:
            store = self.store(store_id)
            product = self._product(store, product_id)
            loc = self._location(store, location_id)
            variant_id = self._line_variant(product, variant_id)
            if variant_id is None:
                self._set_stock(store, product["id"], loc, to_decimal(qty))
                return qty_str(store.stock[(product["id"], loc)])
            self._set_variant_stock(store, product, variant_id, loc, to_decimal(qty))
            return qty_str(store.variant_stock[(variant_id, loc)])

    def _line_variant(self, product: dict[str, Any], variant_id: Any) -> int | None:
        """The variant a stock change or order line is for (422 when it does not fit)."""
        if product.get("variants"):
            if variant_id is None:
                raise invalid(f"product {product['id']} has variants: send variant_id")
            try:
                return self._variant(product, variant_id)["id"]
            except SimError:
                raise invalid(f"variant {variant_id} is not a variant of {product['id']}") from None
        if variant_id is not None:
            raise invalid(f"product {product['id']} has no variants")
        return None

    def get_stock(
        self, store_id: str, product_id: int, location_id: int, variant_id: int | None = None
    ) -> Decimal:
        with self.lock:
            store = self.store(store_id)
            if variant_id is not None:
                return store.variant_stock.get((int(variant_id), int(location_id)), Decimal(0))
            return store.stock.get((int(product_id), int(location_id)), Decimal(0))

    def stock_rows(
        self, store_id: str, location_id: Any = None, product_ids: Iterable[int] | None = None
    ) -> list[dict[str, Any]]:
        """Every (product, location) pair asked for, zero when never counted."""
        with self.lock:
            store = self.store(store_id)
            if location_id is not None:
                try:
                    locations = [int(location_id)]
                except ValueError:
                    raise invalid(f"bad location_id: {location_id!r}") from None
                if locations[0] not in store.locations:
                    raise not_found(f"location {location_id}")
            else:
                locations = sorted(store.locations)
            if product_ids is None:
                products = [pid for pid, p in sorted(store.products.items()) if not p["deleted"]]
            else:
                products = sorted(set(product_ids) & set(store.products))
            rows: list[dict[str, Any]] = []
            for pid in products:
                live = [v for v in store.products[pid].get("variants") or [] if not v["deleted"]]
                for loc in locations:
                    if not store.products[pid].get("variants"):
                        qty = store.stock.get((pid, loc), Decimal(0))
                        rows.append(
                            {"product_id": pid, "location_id": loc, "quantity": qty_str(qty)}
                        )
                        continue
                    for variant in live:  # one row per live variant, no product row
                        qty = store.variant_stock.get((variant["id"], loc), Decimal(0))
                        rows.append(
                            {
                                "product_id": pid,
                                "variant_id": variant["id"],
                                "location_id": loc,
                                "quantity": qty_str(qty),
                            }
                        )
            return rows

    def sell_in_store(
        self, store_id: str, location_id: int, lines: Iterable[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """A till sale: lower stock per ``{"product_id", "variant_id"?, "quantity"}`` line
        (may go negative)."""
        with self.lock:
            store = self.store(store_id)
            loc = self._location(store, location_id)
            lines = list(lines)
            variants = []
            for line in lines:  # validate everything before changing anything
                product = self._product(store, line["product_id"])
                variants.append(self._line_variant(product, line.get("variant_id")))
                to_decimal(line["quantity"])
            rows = []
            for line, variant_id in zip(lines, variants, strict=True):
                pid = int(line["product_id"])
                self._adjust_line_stock(store, pid, variant_id, loc, -to_decimal(line["quantity"]))
                row: dict[str, Any] = {"product_id": pid, "location_id": loc}
                if variant_id is None:
                    row["quantity"] = qty_str(store.stock[(pid, loc)])
                else:
                    row["variant_id"] = variant_id
                    row["quantity"] = qty_str(store.variant_stock[(variant_id, loc)])
                rows.append(row)
            return rows

    # -- customers --------------------------------------------------------------------

    def find_customers(self, store_id: str, email: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            store = self.store(store_id)
            wanted = None if email is None else email.strip().casefold()
            return [
                dict(c)
                for _, c in sorted(store.customers.items())
                if wanted is None or c["email"].casefold() == wanted
            ]

    def create_customer(self, store_id: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            store = self.store(store_id)
            email = payload.get("email")
            if not isinstance(email, str) or "@" not in email:
                raise invalid("email is required and must be an email address")
            if self.find_customers(store_id, email):
                raise SimError(409, "conflict", "a customer with this email already exists")
            address = payload.get("address") or {}
            if not isinstance(address, Mapping):
                raise invalid("address must be an object")
            customer = {
                "id": self._next("customer"),
                "email": email.strip(),
                "first_name": payload.get("first_name") or "",
                "last_name": payload.get("last_name") or "",
                "phone": payload.get("phone"),
                "address": {
                    k: address.get(k) for k in ("line1", "line2", "city", "state", "zip", "country")
                },
                "created_at": iso(self.now()),
            }
            store.customers[customer["id"]] = customer
            return dict(customer)

    def get_customer(self, store_id: str, customer_id: int) -> dict[str, Any]:
        with self.lock:
            try:
                return dict(self.store(store_id).customers[int(customer_id)])
            except (KeyError, ValueError):
                raise not_found(f"customer {customer_id}") from None

    def customers(self, store_id: str) -> list[dict[str, Any]]:
        return self.find_customers(store_id)

    # -- orders -----------------------------------------------------------------------

    def create_order(self, store_id: str, payload: Mapping[str, Any]) -> tuple[dict, bool]:
        """Create an order and lower stock atomically; returns (order, replayed)."""
        with self.lock:
            store = self.store(store_id)
            ref = payload.get("external_reference")
            if not isinstance(ref, str) or not ref:
                raise invalid("external_reference is required")
            if ref in store.orders_by_ref:
                return public(store.orders[store.orders_by_ref[ref]]), True
            order = self._build_order(store, payload, ref)
            store.orders[order["id"]] = order
            store.orders_by_ref[ref] = order["id"]
            for line in order["line_items"]:
                if line["product_id"] is not None:
                    self._adjust_line_stock(
                        store,
                        line["product_id"],
                        line.get("variant_id"),
                        order["location_id"],
                        -line["quantity"],
                    )
            return public(order), False

    def _build_order(self, store: Store, payload: Mapping[str, Any], ref: str) -> dict:
        location_id = self._location(store, payload.get("location_id"))
        customer_id = payload.get("customer_id")
        if customer_id is not None and customer_id not in store.customers:
            raise invalid(f"customer {customer_id} does not exist")
        raw_lines = payload.get("line_items")
        if not isinstance(raw_lines, list) or not raw_lines:
            raise invalid("line_items must be a non-empty list")
        lines = [self._build_line(store, raw) for raw in raw_lines]
        subtotal = sum((Decimal(line["price"]) * line["quantity"] for line in lines), Decimal(0))
        parts = {
            name: Decimal(money(payload.get(name) or "0"))
            for name in ("shipping_total", "tax_total", "discount_total", "adjustment_total")
        }
        total = (
            subtotal
            + parts["shipping_total"]
            + parts["tax_total"]
            - parts["discount_total"]
            + parts["adjustment_total"]
        )
        if payload.get("total") is not None and Decimal(money(payload["total"])) != total:
            # Bindo computes the total itself (ASSUMED, docs/bindo-api.md): a sender's total
            # that disagrees with the parts is refused rather than silently replaced.
            raise invalid(f"total {payload['total']} is not the sum of the parts ({total})")
        discounts = payload.get("discounts") or []
        if not isinstance(discounts, list) or not all(isinstance(d, Mapping) for d in discounts):
            raise invalid("discounts must be a list of objects")
        return {
            "id": self._next("order"),
            "external_reference": ref,
            "status": payload.get("status") or "unfulfilled",
            "payment_status": payload.get("payment_status") or "paid",
            "location_id": location_id,
            "customer_id": customer_id,
            "currency": payload.get("currency") or "USD",
            "subtotal": money(subtotal),
            **{name: money(value) for name, value in parts.items()},
            "discounts": [dict(d) for d in discounts],
            "payment_method": payload.get("payment_method") or "",
            "total": money(total),
            "note": payload.get("note") or "",
            "line_items": lines,
            "refunds": [],
            "created_at": iso(self.now()),
            "_cancel_restocked": False,
        }

    def _build_line(self, store: Store, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            raise invalid("each line item must be an object")
        product_id = raw.get("product_id")
        variant_id = None
        if product_id is not None:
            try:
                product = self._product(store, product_id)
            except SimError:
                raise invalid(f"product {product_id} does not exist") from None
            product_id = product["id"]
            variant_id = self._line_variant(product, raw.get("variant_id"))
        elif raw.get("variant_id") is not None:
            raise invalid("variant_id needs a product_id")
        quantity = raw.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise invalid("line item quantity must be a positive integer")
        line = {
            "id": self._next("line"),
            "product_id": product_id,
            "name": raw.get("name") or "",
            "sku": raw.get("sku"),
            "price": money(raw.get("price", "0")),
            "quantity": quantity,
            "refunded_quantity": 0,
            "external_line_id": raw.get("external_line_id"),
        }
        if variant_id is not None:  # lines of products without variants look as before
            line["variant_id"] = variant_id
        return line

    def _order(self, store: Store, order_id: int) -> dict[str, Any]:
        try:
            return store.orders[int(order_id)]
        except (KeyError, ValueError):
            raise not_found(f"order {order_id}") from None

    def get_order(self, store_id: str, order_id: int) -> dict[str, Any]:
        with self.lock:
            return public(self._order(self.store(store_id), order_id))

    def orders(self, store_id: str, external_reference: str | None = None) -> list[dict]:
        with self.lock:
            store = self.store(store_id)
            return [
                public(o)
                for _, o in sorted(store.orders.items())
                if external_reference is None or o["external_reference"] == external_reference
            ]

    def cancel_order(self, store_id: str, order_id: int, restock: bool = True) -> dict:
        """Cancel once; a second cancel is a no-op (no second restock)."""
        with self.lock:
            store = self.store(store_id)
            order = self._order(store, order_id)
            if order["status"] == "cancelled":
                return public(order)
            if order["status"] == "fulfilled":
                raise SimError(409, "conflict", "a fulfilled order cannot be cancelled")
            order["status"] = "cancelled"
            if restock:
                order["_cancel_restocked"] = True
                for line in order["line_items"]:
                    back = line["quantity"] - line["refunded_quantity"]
                    if line["product_id"] is not None and back > 0:
                        self._adjust_line_stock(
                            store,
                            line["product_id"],
                            line.get("variant_id"),
                            order["location_id"],
                            back,
                        )
            return public(order)

    def create_refund(
        self, store_id: str, order_id: int, payload: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Refund lines (optionally restocking); the same reference replays. (refund, replayed)"""
        with self.lock:
            store = self.store(store_id)
            order = self._order(store, order_id)
            reference = payload.get("reference")
            if not isinstance(reference, str) or not reference:
                raise invalid("reference is required")
            for existing in order["refunds"]:
                if existing["reference"] == reference:
                    return dict(existing), True
            wanted = self._refund_lines(order, payload.get("line_items") or [])
            restock = bool(payload.get("restock", False))
            amount = payload.get("amount")
            if amount is None:
                by_id = {line["id"]: line for line in order["line_items"]}
                amount = sum(
                    (Decimal(by_id[lid]["price"]) * q for lid, q in wanted.items()), Decimal(0)
                )
            refund = {
                "id": self._next("refund"),
                "reference": reference,
                "line_items": [{"line_item_id": k, "quantity": v} for k, v in wanted.items()],
                "restock": restock,
                "amount": money(amount),
                "created_at": iso(self.now()),
            }
            self._apply_refund(store, order, wanted, restock)
            order["refunds"].append(refund)
            return dict(refund), False

    def _refund_lines(self, order: dict[str, Any], raw: Any) -> dict[int, int]:
        if not isinstance(raw, list):
            raise invalid("line_items must be a list")
        by_id = {line["id"]: line for line in order["line_items"]}
        wanted: dict[int, int] = {}
        for item in raw:
            line = by_id.get(item.get("line_item_id")) if isinstance(item, Mapping) else None
            if line is None:
                raise invalid(f"line item {item!r} is not on order {order['id']}")
            qty = item.get("quantity")
            if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
                raise invalid("refund quantity must be a positive integer")
            wanted[line["id"]] = wanted.get(line["id"], 0) + qty
        for line_id, qty in wanted.items():
            left = by_id[line_id]["quantity"] - by_id[line_id]["refunded_quantity"]
            if qty > left:
                raise invalid(f"line item {line_id}: refund {qty} but only {left} left")
        return wanted

    def _apply_refund(
        self, store: Store, order: dict[str, Any], wanted: dict[int, int], restock: bool
    ) -> None:
        by_id = {line["id"]: line for line in order["line_items"]}
        for line_id, qty in wanted.items():
            line = by_id[line_id]
            line["refunded_quantity"] += qty
            # A cancel with restock already put these units back; don't count them twice.
            if restock and line["product_id"] is not None and not order["_cancel_restocked"]:
                self._adjust_line_stock(
                    store, line["product_id"], line.get("variant_id"), order["location_id"], qty
                )
        fully = all(li["refunded_quantity"] >= li["quantity"] for li in order["line_items"])
        order["payment_status"] = "refunded" if fully else "partially_refunded"

    # -- webhook subscriptions ---------------------------------------------------------

    def subscribe(self, store_id: str, url: Any, events: Any) -> tuple[dict[str, Any], bool]:
        """Create a subscription, or update the events of the one with this url (created?)."""
        with self.lock:
            store = self.store(store_id)
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise invalid("url must be an http(s) URL")
            if not isinstance(events, list) or not events:
                raise invalid("events must be a non-empty list")
            unknown = [e for e in events if e not in EVENT_TYPES]
            if unknown:
                raise invalid(f"unknown events: {unknown}")
            for hook in store.webhooks.values():
                if hook["url"] == url:
                    hook["events"] = list(dict.fromkeys(events))
                    return dict(hook), False
            hook = {"id": self._next("webhook"), "url": url, "events": list(dict.fromkeys(events))}
            store.webhooks[hook["id"]] = hook
            return dict(hook), True

    def list_webhooks(self, store_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(h) for _, h in sorted(self.store(store_id).webhooks.items())]

    def unsubscribe(self, store_id: str, hook_id: int) -> None:
        with self.lock:
            if self.store(store_id).webhooks.pop(int(hook_id), None) is None:
                raise not_found(f"webhook {hook_id}")

    # -- events -----------------------------------------------------------------------

    def _emit(self, store: Store, event_type: str, data: dict[str, Any]) -> None:
        event = {
            "id": f"evt_{uuid.uuid4()}",
            "type": event_type,
            "store_id": store.store_id,
            "created_at": iso(self.now()),
            "data": data,
        }
        store.events.append(event)
        for hook in store.webhooks.values():
            if event_type in hook["events"]:
                # The secret is read at send time, so a rotated secret signs retries too.
                self.dispatcher.enqueue(hook["url"], event, lambda s=store: s.webhook_secret)

    def events(self, store_id: str, event_type: str | None = None) -> list[dict[str, Any]]:
        """Every event the store emitted (whether or not anyone subscribed)."""
        with self.lock:
            return [e for e in self.store(store_id).events if event_type in (None, e["type"])]

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """One row per HTTP delivery attempt (event_id, url, attempt, status, error)."""
        return list(self.dispatcher.attempts)

    def wait_deliveries(self, timeout: float = 5.0) -> bool:
        """Block until every queued delivery (retries included) is done; False on timeout."""
        return self.dispatcher.wait_idle(timeout)

    def set_delivery_faults(self, **switches: Any) -> dict[str, Any]:
        """drop / duplicate / bad_signature / paused (bools), delay (seconds)."""
        return asdict(self.dispatcher.set_faults(**switches))

    # -- API fault injection ------------------------------------------------------------

    def inject_api_fault(
        self,
        status: int | None = 500,
        *,
        count: int = 1,
        path_contains: str = "",
        retry_after: int | None = None,
        delay: float = 0.0,
        body: str | None = None,
    ) -> None:
        """Make the next ``count`` API calls whose path contains ``path_contains`` fail.

        ``status=None`` with a ``delay`` only slows the real answer (client timeouts);
        ``body`` sends that text instead of a JSON error (e.g. a proxy's HTML page).
        """
        fault = {
            "status": status,
            "count": count,
            "path_contains": path_contains,
            "retry_after": retry_after,
            "delay": delay,
            "body": body,
        }
        with self.lock:
            self.api_faults.append(fault)

    def take_api_fault(self, path: str) -> dict[str, Any] | None:
        with self.lock:
            for fault in self.api_faults:
                if fault["path_contains"] in path:
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        self.api_faults.remove(fault)
                    return dict(fault)
            return None

    def shutdown(self) -> None:
        self.dispatcher.shutdown()
