"""Image download check: BigCommerce fetches every image_url and rejects non-images."""

from __future__ import annotations

import requests

# Leading bytes of the formats BigCommerce accepts that we can sniff cheaply.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


class ImageDownloadError(Exception):
    """The URL could not be fetched or did not return an image."""


def sniff(body: bytes) -> str | None:
    """Return the image format of ``body`` or None when it is not an image we accept."""
    for magic, kind in _MAGIC:
        if body.startswith(magic):
            return kind
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "webp"
    return None


def download(url: str, timeout: float, max_bytes: int) -> str:
    """Fetch ``url`` like BigCommerce would; return the format or raise ImageDownloadError."""
    if not url.startswith(("http://", "https://")):
        raise ImageDownloadError(f"image_url must be a fully qualified URL: {url!r}")
    try:
        with requests.get(url, timeout=timeout, stream=True, allow_redirects=False) as resp:
            if resp.status_code != 200:
                raise ImageDownloadError(f"image_url answered HTTP {resp.status_code}")
            body = resp.raw.read(max_bytes + 1, decode_content=True)
    except requests.RequestException as exc:
        raise ImageDownloadError(f"image_url could not be downloaded: {exc}") from exc
    if len(body) > max_bytes:
        raise ImageDownloadError("image is larger than 8 MB")
    kind = sniff(body)
    if kind is None:
        raise ImageDownloadError("image_url did not return a supported image file")
    return kind
