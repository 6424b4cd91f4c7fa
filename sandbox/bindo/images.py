"""Small valid PNGs made with the standard library, one distinct colour per image id."""

from __future__ import annotations

import colorsys
import struct
import zlib
from functools import lru_cache

SIZE = 64
_GOLDEN = 0.618033988749895


def colour_for(image_id: int) -> tuple[int, int, int]:
    """A colour that differs visibly between neighbouring ids (golden-ratio hue walk)."""
    hue = (image_id * _GOLDEN) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.65, 0.9)
    return int(r * 255), int(g * 255), int(b * 255)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


@lru_cache(maxsize=512)
def png_for(image_id: int, size: int = SIZE) -> bytes:
    """A ``size`` x ``size`` RGB PNG: the id's colour with a darker diagonal band."""
    base = colour_for(image_id)
    dark = tuple(c // 2 for c in base)
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")  # filter type 0 (None) for every scanline
        for x in range(size):
            row.extend(dark if abs(x - y) < size // 8 else base)
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit truecolour
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )
