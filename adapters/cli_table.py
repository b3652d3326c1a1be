"""Plain-text tables for the `opslayer` command's listings."""

from __future__ import annotations

from collections.abc import Sequence

from opslayer.adapters.terminal import printable


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell, headers in capitals; None shows as blank. Control
    characters in a cell are shown escaped: cells hold what agents wrote."""
    cells = [[("" if v is None else printable(str(v))) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)
