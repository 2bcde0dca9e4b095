"""HTML building blocks of the run report: escaped text, tables, small inline SVG charts, one page.

Everything is inline (CSS, SVG), and the page's Content-Security-Policy forbids every fetch, so the
file opens the same offline, attached to a review, or in a locked-down browser.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

# The browser itself enforces that the page loads nothing: no scripts, no fonts, no remote images.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
:root { --ok: #1b7f3b; --bad: #b3261e; --warn: #a35f00; --muted: #5f6368; --line: #dadce0; --bar: #3367d6; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #202124; margin: 0 auto; padding: 24px; max-width: 1180px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
p { margin: 6px 0; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
nav { margin: 8px 0 0; color: var(--muted); }
nav a { margin-right: 12px; color: var(--bar); text-decoration: none; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px 4px 0; text-align: left; vertical-align: middle; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.headline { border: 2px solid var(--line); border-radius: 8px; padding: 14px 18px; margin: 16px 0; }
.headline.ok { border-color: var(--ok); background: #f1f8f3; }
.headline.bad { border-color: var(--bad); background: #fdf3f2; }
.headline.warn { border-color: var(--warn); background: #fff8ec; }
.headline .verdict { font-size: 20px; font-weight: 700; }
.facts { display: flex; flex-wrap: wrap; gap: 8px 32px; margin-top: 8px; }
.facts div span { display: block; color: var(--muted); font-size: 12px; }
.pill { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.pill.ok { background: #e6f4ea; color: var(--ok); }
.pill.bad { background: #fce8e6; color: var(--bad); }
.pill.warn { background: #fef7e0; color: var(--warn); }
.pill.muted { background: #f1f3f4; color: var(--muted); }
.muted { color: var(--muted); }
ul.reasons { margin: 6px 0; padding-left: 20px; }
svg { display: block; }
svg text { font: 10px system-ui, sans-serif; fill: #3c4043; }
"""

PILL_CLASSES = {
    "executed": "ok",
    "cached": "muted",
    "resolved": "muted",
    "failed": "bad",
    "ok": "ok",
    "passed": "ok",
    "OVER LIMIT": "bad",
    "failed threshold": "bad",
    "stop": "bad",
    "warn": "warn",
    "not applied": "muted",
    "no limit": "muted",
    "not measured": "muted",
}


class Html(str):
    """Markup that is already escaped; `tag`, `table` and `join` insert it as is."""


class Cell(Html):
    """A whole <td> element (made by `td`), which `table` inserts as is."""


def esc(value: object) -> Html:
    """Returns the text of any value, escaped for HTML text and attribute values."""
    return Html(html.escape(str(value), quote=True))


def join(parts: Iterable[str]) -> Html:
    """Concatenates markup (parts must already be Html or escaped)."""
    return Html("".join(parts))


def tag(name: str, content: str = "", **attributes: object) -> Html:
    """Returns `<name attr="...">content</name>`; plain-str content is escaped, Html is kept as is.

    Attribute names use `_` for `-` (data_value -> data-value) and a trailing `_` for Python keywords (class_).
    """
    attrs = "".join(
        f' {key.rstrip("_").replace("_", "-")}="{esc(value)}"' for key, value in attributes.items() if value is not None
    )
    body = content if isinstance(content, Html) else esc(content)
    return Html(f"<{name}{attrs}>{body}</{name}>")


def td(content: str = "", **attributes: object) -> Cell:
    """A table cell with attributes, e.g. data-value with a number's exact value."""
    return Cell(tag("td", content, **attributes))


def pill(text: str, kind: str | None = None) -> Html:
    """A coloured status word: executed, cached, ok, OVER LIMIT, passed..."""
    return tag("span", text, class_=f"pill {kind or PILL_CLASSES.get(text, 'muted')}")


def number(value: float | None, digits: int = 4) -> str:
    """Formats a float with fixed decimals, integers without; "-" for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if float(value).is_integer() and abs(value) >= 1 and digits > 0 and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.{digits}f}"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = (), **attributes: object
) -> Html:
    """Returns a table; cells that are Html are inserted as is, other values escaped.

    Args:
        headers: column titles.
        rows: one sequence of cells per row.
        numeric: indexes of right-aligned (number) columns.
        **attributes: attributes of the <table> element (e.g. id, class_).
    """
    head = join(tag("th", h, class_="num" if i in numeric else None) for i, h in enumerate(headers))
    body = join(
        tag(
            "tr",
            join(
                c
                if isinstance(c, Cell)
                else tag("td", c if isinstance(c, Html) else str(c), class_="num" if i in numeric else None)
                for i, c in enumerate(row)
            ),
        )
        for row in rows
    )
    return tag("table", join([tag("thead", tag("tr", head)), tag("tbody", body)]), **attributes)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def histogram_svg(buckets: Sequence[tuple[float, float, float]], width: int = 180, height: int = 44) -> Html:
    """A small histogram: one bar per (low, high, count) bucket, each with a tooltip.

    Args:
        buckets: equal-width buckets as TFDV's standard histogram gives them.
        width: chart width in pixels.
        height: chart height in pixels.

    Returns:
        An inline <svg>, or an em dash when there are no counts.
    """
    counts = [max(0.0, c) for _, _, c in buckets]
    if not buckets or not any(counts):
        return esc("—")
    top = max(counts)
    bar_width = width / len(buckets)
    bars = []
    for i, ((low, high, count), shown) in enumerate(zip(buckets, counts, strict=True)):
        bar_height = (height - 12) * shown / top
        bars.append(
            tag(
                "rect",
                tag("title", f"{_fmt(low)} to {_fmt(high)}: {count:,.0f}"),
                x=f"{i * bar_width + 0.5:.1f}",
                y=f"{height - 12 - bar_height:.1f}",
                width=f"{max(bar_width - 1, 0.5):.1f}",
                height=f"{bar_height:.1f}",
                fill="#3367d6",
            )
        )
    low_label = tag("text", _fmt(buckets[0][0]), x="0", y=str(height - 1))
    high_label = tag("text", _fmt(buckets[-1][1]), x=str(width), y=str(height - 1), text_anchor="end")
    return tag(
        "svg",
        join([*bars, low_label, high_label]),
        width=str(width),
        height=str(height),
        viewBox=f"0 0 {width} {height}",
        role="img",
        aria_label="histogram",
    )


def bars_svg(
    items: Sequence[tuple[str, float]],
    width: int = 240,
    bar_height: int = 12,
    label_width: int = 90,
    maximum: float | None = None,
    marker: float | None = None,
    value_format: str = "{:,.0f}",
) -> Html:
    """Horizontal bars, one per (label, value), labelled, optionally with a vertical marker line.

    Args:
        items: labels and values (values >= 0).
        width: chart width in pixels.
        bar_height: height of one row.
        label_width: room for the labels on the left.
        maximum: the value of a full-width bar (default: the largest value).
        marker: a value to draw as a vertical line (e.g. a threshold), or None.
        value_format: how values are printed after the bars.

    Returns:
        An inline <svg>, or an em dash when there are no items.
    """
    if not items:
        return esc("—")
    values = [v for _, v in items if not math.isnan(v)]
    top = maximum if maximum is not None else max([*values, marker or 0.0, 1e-12])
    room = width - label_width - 46
    rows = []
    for i, (label, value) in enumerate(items):
        y = i * bar_height
        shown = 0.0 if math.isnan(value) else min(max(value, 0.0), top)
        length = room * shown / top if top > 0 else 0.0
        short = label if len(label) <= 14 else label[:13] + "…"
        rows.append(tag("text", short, x=str(label_width - 4), y=str(y + bar_height - 3), text_anchor="end"))
        rows.append(
            tag(
                "rect",
                tag("title", f"{label}: {value_format.format(value)}"),
                x=str(label_width),
                y=str(y + 1),
                width=f"{length:.1f}",
                height=str(bar_height - 2),
                fill="#3367d6",
            )
        )
        rows.append(
            tag("text", value_format.format(value), x=f"{label_width + length + 3:.1f}", y=str(y + bar_height - 3))
        )
    height = bar_height * len(items) + 2
    if marker is not None and top > 0:
        x = label_width + room * min(max(marker, 0.0), top) / top
        rows.append(
            tag(
                "line",
                tag("title", f"threshold {value_format.format(marker)}"),
                x1=f"{x:.1f}",
                x2=f"{x:.1f}",
                y1="0",
                y2=str(height),
                stroke="#b3261e",
                stroke_width="1.5",
                stroke_dasharray="3 2",
            )
        )
    return tag("svg", join(rows), width=str(width), height=str(height), viewBox=f"0 0 {width} {height}", role="img")


def section(section_id: str, title: str, content: str) -> Html:
    """A report section with a stable id (tests and links find it by id)."""
    return tag("section", join([tag("h2", title), content]), id=section_id)


def page(title: str, header: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """Returns the whole self-contained document.

    Args:
        title: the document title.
        header: markup shown above the sections (title, headline box).
        sections: (id, heading, markup) of each section, in order; a navigation line links them.
    """
    navigation = tag("nav", join(tag("a", heading, href=f"#{sid}") for sid, heading, _ in sections))
    body = join([header, navigation, *(section(sid, heading, content) for sid, heading, content in sections)])
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CONTENT_SECURITY_POLICY)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
