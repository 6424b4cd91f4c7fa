"""Image rule: Bindo images in position order, and the smallest change plan for BigCommerce."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import MappingError, preview

MAX_IMAGE_URL = 255  # BigCommerce image_url limit (CONTRACT section 4)
_ABSOLUTE_HTTP_URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """One image as Bindo wants it on BigCommerce; sort_order is 0-based, first = thumbnail."""

    bindo_image_id: int
    url: str
    sort_order: int
    is_thumbnail: bool

    def as_payload(self) -> dict[str, Any]:
        """Inline form for product create and for POST .../images."""
        return {
            "image_url": self.url,
            "is_thumbnail": self.is_thumbnail,
            "sort_order": self.sort_order,
        }


@dataclass(frozen=True, slots=True)
class ImagePlan:
    """Image requests to make, best sent in this order: delete, create, update.

    ``keep`` maps Bindo image ids to BigCommerce image ids that stay as they are (or are
    only updated); merged with the ids of created images it is the next ``known``.
    """

    create: tuple[ImageSpec, ...] = ()
    update: tuple[tuple[int, ImageSpec], ...] = ()
    delete: tuple[int, ...] = ()
    keep: dict[int, int] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not (self.create or self.update or self.delete)


def _position_key(image: Mapping[str, Any]) -> tuple[int, int]:
    position = image.get("position")
    image_id = image.get("id")
    # Missing positions sort last; the id breaks ties so the order never depends on the API.
    return (
        position if isinstance(position, int) else 2**31,
        image_id if isinstance(image_id, int) else 0,
    )


def images_from_bindo(images: Iterable[Mapping[str, Any]] | None) -> tuple[ImageSpec, ...]:
    """ImageSpecs in Bindo position order; each URL must be absolute http(s), <= 255 chars."""
    if not images:
        return ()
    specs = []
    for sort_order, image in enumerate(sorted(images, key=_position_key)):
        image_id = image.get("id")
        url = image.get("url")
        if not isinstance(image_id, int) or isinstance(image_id, bool):
            raise MappingError(
                "images",
                f"An image has no usable id ({preview(image_id)})",
                code="image_id_invalid",
                value=image_id,
            )
        if not isinstance(url, str) or not _ABSOLUTE_HTTP_URL.fullmatch(url):
            raise MappingError(
                "images",
                f"Image {image_id} has address '{preview(url)}', which is not a full "
                "http:// or https:// address",
                code="image_url_invalid",
                value=url,
            )
        if len(url) > MAX_IMAGE_URL:
            raise MappingError(
                "images",
                f"Image {image_id} has an address of {len(url)} characters; BigCommerce "
                f"accepts at most {MAX_IMAGE_URL}",
                code="image_url_too_long",
                value=url,
            )
        specs.append(ImageSpec(image_id, url, sort_order, sort_order == 0))
    return tuple(specs)


def plan_images(
    desired: Sequence[ImageSpec],
    current: Iterable[Mapping[str, Any]],
    known: Mapping[int, int],
    *,
    content_managed_by: str = "bindo",
) -> ImagePlan:
    """Requests that make BigCommerce's images match Bindo's, matched by Bindo identity.

    ``current`` are BigCommerce images ({id, image_url, sort_order, is_thumbnail}), ``known``
    maps Bindo image ids to the BigCommerce image ids we created. An unchanged image is never
    uploaded again; a changed URL is deleted and re-created (BigCommerce downloads the file
    only on create); only sort_order/is_thumbnail differences are updated. Images we did not
    create (added by the merchant) are deleted, because Bindo manages the content; when the
    merchant manages content in BigCommerce images are create-only and the plan is empty.
    A current image_url that is empty counts as unchanged: BigCommerce may not echo it.
    """
    if content_managed_by != "bindo":
        return ImagePlan()
    current_by_id = {image["id"]: image for image in current if isinstance(image.get("id"), int)}
    create: list[ImageSpec] = []
    update: list[tuple[int, ImageSpec]] = []
    delete: list[int] = []
    keep: dict[int, int] = {}
    claimed: set[int] = set()
    for spec in desired:
        bc_id = known.get(spec.bindo_image_id)
        existing = current_by_id.get(bc_id) if bc_id is not None else None
        if existing is None or bc_id in claimed:
            create.append(spec)
            continue
        claimed.add(bc_id)
        existing_url = existing.get("image_url") or ""
        if existing_url and existing_url != spec.url:
            delete.append(bc_id)
            create.append(spec)
            continue
        keep[spec.bindo_image_id] = bc_id
        if (
            existing.get("sort_order") != spec.sort_order
            or bool(existing.get("is_thumbnail")) != spec.is_thumbnail
        ):
            update.append((bc_id, spec))
    # Everything not claimed by a desired image goes: images removed in Bindo and images the
    # merchant added. Sorted so the plan is deterministic.
    delete.extend(sorted(bc_id for bc_id in current_by_id if bc_id not in claimed))
    return ImagePlan(tuple(create), tuple(update), tuple(delete), keep)
