"""Image rule: Bindo order and identity decide; unchanged images are never uploaded again."""

from __future__ import annotations

import pytest

from shared.mapping import ImagePlan, ImageSpec, MappingError, images_from_bindo, plan_images

URL = "http://127.0.0.1:5200/images/{}.png"


def spec(bindo_id, sort_order, url=None):
    return ImageSpec(bindo_id, url or URL.format(bindo_id), sort_order, sort_order == 0)


def bc(bc_id, bindo_id, sort_order, url=None, thumbnail=None):
    return {
        "id": bc_id,
        "image_url": URL.format(bindo_id) if url is None else url,
        "sort_order": sort_order,
        "is_thumbnail": sort_order == 0 if thumbnail is None else thumbnail,
    }


@pytest.mark.parametrize(
    ("images", "expected_ids"),
    [
        ([], ()),
        (None, ()),
        ([{"id": 1, "url": URL.format(1), "position": 1}], (1,)),
        (
            [
                {"id": 2, "url": URL.format(2), "position": 2},
                {"id": 1, "url": URL.format(1), "position": 1},
                {"id": 3, "url": URL.format(3), "position": 3},
            ],
            (1, 2, 3),
        ),
        (
            [
                {"id": 5, "url": URL.format(5), "position": 1},
                {"id": 4, "url": URL.format(4), "position": 1},
                {"id": 6, "url": URL.format(6)},
            ],
            (4, 5, 6),
        ),
    ],
)
def test_images_follow_bindo_position_and_first_is_thumbnail(images, expected_ids):
    specs = images_from_bindo(images)
    assert tuple(s.bindo_image_id for s in specs) == expected_ids
    assert [s.sort_order for s in specs] == list(range(len(specs)))
    assert [s.is_thumbnail for s in specs] == [i == 0 for i in range(len(specs))]


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/images/1.png", "image_url_invalid"),
        ("ftp://example.com/1.png", "image_url_invalid"),
        ("http://", "image_url_invalid"),
        ("https://exa mple.com/1.png", "image_url_invalid"),
        ("", "image_url_invalid"),
        (None, "image_url_invalid"),
        ("https://example.com/" + "a" * 236, "image_url_too_long"),
    ],
)
def test_image_url_must_be_absolute_http_and_short(url, code):
    with pytest.raises(MappingError) as caught:
        images_from_bindo([{"id": 1, "url": url, "position": 1}])
    assert (caught.value.field, caught.value.code) == ("images", code)


@pytest.mark.parametrize(
    "url", ["https://example.com/" + "a" * 235, "HTTPS://cdn.example.com/x.png?v=2"]
)
def test_absolute_urls_up_to_255_chars_are_accepted(url):
    assert images_from_bindo([{"id": 1, "url": url, "position": 1}])[0].url == url


def test_image_without_id_is_an_error():
    with pytest.raises(MappingError) as caught:
        images_from_bindo([{"url": URL.format(1), "position": 1}])
    assert caught.value.code == "image_id_invalid"


@pytest.mark.parametrize(
    ("desired", "current", "known", "expected"),
    [
        pytest.param(
            [spec(1, 0), spec(2, 1)],
            [bc(501, 1, 0), bc(502, 2, 1)],
            {1: 501, 2: 502},
            ImagePlan(keep={1: 501, 2: 502}),
            id="unchanged images cost nothing",
        ),
        pytest.param(
            [spec(1, 0)],
            [],
            {},
            ImagePlan(create=(spec(1, 0),)),
            id="new product image is created",
        ),
        pytest.param(
            [spec(1, 0), spec(2, 1), spec(3, 2)],
            [bc(501, 1, 0), bc(502, 2, 1)],
            {1: 501, 2: 502},
            ImagePlan(create=(spec(3, 2),), keep={1: 501, 2: 502}),
            id="added image is created alone",
        ),
        pytest.param(
            [spec(1, 0)],
            [bc(501, 1, 0), bc(502, 2, 1)],
            {1: 501, 2: 502},
            ImagePlan(delete=(502,), keep={1: 501}),
            id="removed image is deleted",
        ),
        pytest.param(
            [spec(1, 0, url=URL.format("1-v2"))],
            [bc(501, 1, 0)],
            {1: 501},
            ImagePlan(create=(spec(1, 0, url=URL.format("1-v2")),), delete=(501,)),
            id="changed url is re-created",
        ),
        pytest.param(
            [spec(2, 0), spec(1, 1)],
            [bc(501, 1, 0), bc(502, 2, 1)],
            {1: 501, 2: 502},
            ImagePlan(update=((502, spec(2, 0)), (501, spec(1, 1))), keep={2: 502, 1: 501}),
            id="reorder updates sort order and thumbnail only",
        ),
        pytest.param(
            [spec(1, 0)],
            [bc(501, 1, 0, thumbnail=False)],
            {1: 501},
            ImagePlan(update=((501, spec(1, 0)),), keep={1: 501}),
            id="lost thumbnail flag is restored",
        ),
        pytest.param(
            [spec(1, 0)],
            [bc(501, 1, 0), bc(777, 99, 1)],
            {1: 501},
            ImagePlan(delete=(777,), keep={1: 501}),
            id="merchant image deleted when bindo manages content",
        ),
        pytest.param(
            [spec(1, 0)],
            [bc(502, 2, 0)],
            {1: 501, 2: 502},
            ImagePlan(create=(spec(1, 0),), delete=(502,)),
            id="image deleted by hand in bigcommerce is uploaded again",
        ),
        pytest.param(
            [spec(1, 0)],
            [bc(501, 1, 0, url="")],
            {1: 501},
            ImagePlan(keep={1: 501}),
            id="empty image_url from bigcommerce counts as unchanged",
        ),
        pytest.param(
            [spec(1, 0), spec(2, 1)],
            [bc(501, 1, 0)],
            {1: 501, 2: 501},
            ImagePlan(create=(spec(2, 1),), keep={1: 501}),
            id="one bigcommerce image never serves two bindo images",
        ),
    ],
)
def test_plan_images(desired, current, known, expected):
    assert plan_images(desired, current, known) == expected


def test_images_are_create_only_when_merchant_manages_content():
    plan = plan_images([spec(1, 0)], [bc(777, 99, 0)], {}, content_managed_by="bigcommerce")
    assert plan.is_empty
    assert plan == ImagePlan()
