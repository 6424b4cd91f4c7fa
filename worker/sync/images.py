"""Product images for the catalog sync: the smallest set of image requests after an update.

Images go inline on create (0 extra requests). Afterwards, when Bindo manages content, changed
images are diffed with ``shared.mapping.plan_images`` against BigCommerce's current list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.mapping import ImageSpec, plan_images
from worker.clients.bigcommerce import BigCommerceClient

# ProductBinding.image_map: {str(bindo image id): BigCommerce image id}. A product created
# with inline images gets no image ids back from POST /v3/catalog/products, and reading them
# would cost a request per create; so such images are stored as -(sort_order + 1) and turned
# into real ids, matched by sort order, the first time the images are diffed.
ImageMap = dict[str, int]
# Key in ProductBinding.last_pushed holding images_signature() of what BigCommerce shows; it is
# not a BigCommerce field, so drift checks never compare it.
IMAGES_KEY = "_images"


def inline_image_map(images: Sequence[ImageSpec]) -> ImageMap:
    """image_map right after a create with inline images: ids still unknown (negative)."""
    return {str(spec.bindo_image_id): -(spec.sort_order + 1) for spec in images}


def images_signature(images: Sequence[ImageSpec]) -> list[list[Any]]:
    """What we last sent, stored in last_pushed["images"]: identity, URL and order."""
    return [[s.bindo_image_id, s.url, s.sort_order, s.is_thumbnail] for s in images]


def images_changed(
    images: Sequence[ImageSpec], last_pushed: Mapping[str, Any] | None, image_map: ImageMap
) -> bool:
    """True when Bindo's images differ from the ones we last made BigCommerce show."""
    previous = (last_pushed or {}).get(IMAGES_KEY)
    if previous is None:
        return True
    return previous != images_signature(images) or set(image_map) != {
        str(s.bindo_image_id) for s in images
    }


def _known(image_map: ImageMap, current: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """Bindo image id -> BigCommerce image id, resolving inline-created images by sort order."""
    known: dict[int, int] = {}
    by_sort: dict[int, int] = {}
    for image in sorted(current, key=lambda i: (i.get("sort_order") or 0, i.get("id") or 0)):
        by_sort.setdefault(int(image.get("sort_order") or 0), int(image["id"]))
    for key, value in image_map.items():
        if value > 0:
            known[int(key)] = value
        elif -value - 1 in by_sort:
            known[int(key)] = by_sort.pop(-value - 1)
    return known


def sync_images(
    client: BigCommerceClient,
    bc_id: int,
    images: Sequence[ImageSpec],
    image_map: ImageMap,
) -> ImageMap:
    """Make BigCommerce's images match Bindo's; returns the new image_map.

    1 read, then delete / create / update only what changed (plan_images): an unchanged image
    is never uploaded again.
    """
    current = client.list_images(bc_id)
    plan = plan_images(images, current, _known(image_map, current), content_managed_by="bindo")
    for image_id in plan.delete:
        client.delete_image(bc_id, image_id)
    new_map: ImageMap = {str(k): v for k, v in plan.keep.items()}
    for spec in plan.create:
        row = client.create_image(bc_id, spec.url, spec.is_thumbnail, spec.sort_order)
        new_map[str(spec.bindo_image_id)] = int(row["id"])
    for image_id, spec in plan.update:
        client.update_image(
            bc_id, image_id, sort_order=spec.sort_order, is_thumbnail=spec.is_thumbnail
        )
    return new_map
