"""Terminal tables whose columns fit their widest value: nothing is ever cut."""

from __future__ import annotations

from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()) -> str:
    """Rows under ``headers``, each column as wide as its widest cell; columns whose index is
    in ``right`` (numbers) are right-aligned. The last column is never padded."""
    cells = [[str(h) for h in headers], *[[("" if v is None else str(v)) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
                 if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
