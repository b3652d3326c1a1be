"""Draw the Teams app icons (no image library needed): `python manifests/teams/make_icons.py`.

color.png: 192×192, the mark on opslayer's blue; outline.png: 32×32, the mark in white on
transparency, as Teams requires."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

BLUE = (37, 99, 235, 255)
WHITE = (255, 255, 255, 255)
CLEAR = (0, 0, 0, 0)


def _png(size: int, pixel: list[list[tuple[int, int, int, int]]]) -> bytes:
    raw = b"".join(b"\0" + b"".join(struct.pack("4B", *p) for p in row) for row in pixel)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _mark(size: int, ink: tuple[int, int, int, int], ground: tuple[int, int, int, int]) -> bytes:
    """A ring (the loop that watches) with a dot (the run) on it."""
    c = (size - 1) / 2
    outer, inner = size * 0.36, size * 0.26
    dot_x, dot_y, dot_r = (
        c + size * 0.31 * math.cos(-0.8),
        c + size * 0.31 * math.sin(-0.8),
        size * 0.1,
    )
    rows = []
    for y in range(size):
        row = []
        for x in range(size):
            r = math.hypot(x - c, y - c)
            on = inner <= r <= outer or math.hypot(x - dot_x, y - dot_y) <= dot_r
            row.append(ink if on else ground)
        rows.append(row)
    return _png(size, rows)


if __name__ == "__main__":
    here = Path(__file__).parent
    (here / "color.png").write_bytes(_mark(192, WHITE, BLUE))
    (here / "outline.png").write_bytes(_mark(32, WHITE, CLEAR))
