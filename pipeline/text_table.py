"""Plain-text tables for consoles and logs: columns two spaces apart, aligned under their headers.

Standard library only, so the drift and anomaly tables here and the runners' console tables
(runners.text.render_table) are one renderer without importing anything heavy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def format_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], right: Sequence[int] = (), rule: bool = True
) -> str:
    """Formats rows as a plain-text table.

    Args:
        headers: column titles.
        rows: cell values, as many per row as headers; each is printed with str().
        right: indexes of columns to right-align (numbers).
        rule: draw a dashed line under the headers.

    Returns:
        The table, lines joined by newlines, without trailing spaces or a trailing newline.
    """
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(parts).rstrip()

    lines = [line(row) for row in cells]
    if rule:
        lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
