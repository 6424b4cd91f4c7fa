"""Pure, stdlib-only mapping rules between Bindo POS records and BigCommerce payloads.

See docs/mapping.md for every rule as a table. Nothing here does I/O.
"""

from .categories import (
    CategoryIndex,
    CategoryRef,
    choose_category,
    normalise_category_name,
    resolve_category_path,
    split_category_path,
)
from .errors import MappingError
from .images import ImagePlan, ImageSpec, images_from_bindo, plan_images
from .orders import (
    MappedOrder,
    UnknownLine,
    bindo_refund,
    customer_from_billing,
    external_reference,
    is_cancelled,
    is_refunded,
    is_waiting,
    map_order,
    refund_reference,
    should_import,
)
from .products import (
    BINDO_OWNED_FIELDS,
    CONTENT_FIELDS,
    FIELD_POLICIES,
    NEVER_SENT_FIELDS,
    PAYLOAD_FIELDS,
    FieldPolicy,
    MappedProduct,
    build_create_payload,
    build_hide_payload,
    build_update_payload,
    is_blank_description,
    map_product,
    payload_hash,
)
from .settings import MappingSettings
from .stock import inventory_tracking, stock_level
from .visibility import decide_visibility, is_online
from .weights import convert_weight, parse_weight, store_weight_unit, weight_from_attributes

__all__ = [
    "BINDO_OWNED_FIELDS",
    "CONTENT_FIELDS",
    "FIELD_POLICIES",
    "NEVER_SENT_FIELDS",
    "PAYLOAD_FIELDS",
    "CategoryIndex",
    "CategoryRef",
    "FieldPolicy",
    "ImagePlan",
    "ImageSpec",
    "MappedOrder",
    "MappedProduct",
    "MappingError",
    "MappingSettings",
    "UnknownLine",
    "build_create_payload",
    "build_hide_payload",
    "build_update_payload",
    "choose_category",
    "convert_weight",
    "customer_from_billing",
    "decide_visibility",
    "external_reference",
    "images_from_bindo",
    "inventory_tracking",
    "is_blank_description",
    "is_cancelled",
    "is_online",
    "is_refunded",
    "map_order",
    "map_product",
    "normalise_category_name",
    "parse_weight",
    "payload_hash",
    "plan_images",
    "bindo_refund",
    "refund_reference",
    "resolve_category_path",
    "should_import",
    "is_waiting",
    "split_category_path",
    "stock_level",
    "store_weight_unit",
    "weight_from_attributes",
]
