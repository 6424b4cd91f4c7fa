"""The portal's root address and favicon."""

from __future__ import annotations


def test_the_root_redirects_to_the_staff_admin(client) -> None:
    answer = client.get("/")
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/admin/")


def test_the_favicon_is_an_icon(client) -> None:
    answer = client.get("/favicon.ico")
    assert answer.status_code == 200
    assert answer.mimetype == "image/vnd.microsoft.icon"
    assert answer.data[:4] == b"\x00\x00\x01\x00"  # ICO header: reserved 0, type 1 (icon)
