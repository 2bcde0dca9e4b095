"""Text shared by the console and the documents: times, durations, span lists, numbers, wrapped lines, tables."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from pipeline.text_table import format_table

WIDTH = 100


def format_time(seconds: float | None, with_zone: bool = False) -> str:
    """Returns "YYYY-MM-DD HH:MM:SS" in UTC (with " UTC" after it when with_zone), or "-"."""
    if seconds is None:
        return "-"
    text = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} UTC" if with_zone else text


def format_duration(seconds: float | None) -> str:
    """Returns "45s", "3m07s", "2h05m" or "3d04h" (one word, so wrapped text never splits it); "-" for None."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def format_spans(spans: Sequence[int]) -> str:
    """Returns "1", "1,2" or "1-4" for a list of spans; "-" for none."""
    if not spans:
        return "-"
    ordered = sorted(spans)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(map(str, ordered))


def format_number(value: float | None) -> str:
    """Returns a metric with 4 decimals, or "-"."""
    return "-" if value is None else f"{value:.4f}"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """Renders rows as plain-text columns, two spaces apart, aligned under their headers.

    Args:
        headers: column titles.
        rows: cell texts, one sequence per row, as many cells as headers.
        right: indexes of columns to right-align (numbers).

    Returns:
        The table, without trailing spaces.
    """
    return format_table(headers, rows, right, rule=False)


def short_path(uri: str, home: str | Path) -> str:
    """Shows a path under the home relative to it ("<home>/...") so lines fit a terminal."""
    try:
        return "<home>/" + str(Path(uri).resolve().relative_to(Path(home).resolve()))
    except (ValueError, OSError):
        return uri


def wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent)
