"""Geometry of the reports' inline SVG charts: axes with ticks and units, curves, bars, histograms, graphs.

Functions here turn numbers into coordinates and labels (plain dicts); the templates' chart macros
(templates/charts.html.j2) draw them, escaped by Jinja2. Every label is at least 12 px.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

COLORS = ("#3367d6", "#e8710a", "#1b7f3b", "#9334e6", "#b3261e")
STATE_COLORS = {"executed": "#1b7f3b", "cached": "#5f6368", "failed": "#b3261e", "resolved": "#80868b"}


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    # The round step whose tick count comes closest to the one asked for.
    step = min((power * m for m in (1, 2, 2.5, 5, 10)), key=lambda s: abs((high - low) / s - count))
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def tick_label(value: float) -> str:
    """A tick's text: short, no float noise (0.30000000000000004 -> 0.3, 12000 -> 12k)."""
    if abs(value) >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:.4g}"


class _Frame:
    """Maps data to pixels inside the plot area of a chart with axes."""

    def __init__(
        self, width: int, height: int, x_range: tuple[float, float], y_range: tuple[float, float], left: int = 56
    ) -> None:
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = left, 14, 42, 44
        self.x_low, self.x_high = x_range
        self.y_low, self.y_high = y_range
        if self.x_high <= self.x_low:
            self.x_high = self.x_low + 1.0
        if self.y_high <= self.y_low:
            self.y_high = self.y_low + 1.0

    def x(self, value: float) -> float:
        span = self.width - self.left - self.right
        return round(self.left + span * (value - self.x_low) / (self.x_high - self.x_low), 1)

    def y(self, value: float) -> float:
        span = self.height - self.top - self.bottom
        return round(self.height - self.bottom - span * (value - self.y_low) / (self.y_high - self.y_low), 1)

    def axes(
        self,
        x_label: str,
        y_label: str,
        x_ticks: Sequence[float],
        y_ticks: Sequence[float],
        x_text: Any = tick_label,
    ) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "plot": {
                "x1": self.left,
                "x2": self.width - self.right,
                "y1": self.top,
                "y2": self.height - self.bottom,
            },
            "x_label": x_label,
            "y_label": y_label,
            "x_ticks": [{"at": self.x(t), "text": x_text(t)} for t in x_ticks if self.x_low <= t <= self.x_high],
            "y_ticks": [{"at": self.y(t), "text": tick_label(t)} for t in y_ticks if self.y_low <= t <= self.y_high],
        }


def line_chart(
    chart_id: str,
    title: str,
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    diagonal: bool = False,
    width: int = 380,
    height: int = 300,
    note: str = "",
    x_ticks: Sequence[float] | None = None,
) -> dict[str, Any]:
    """A chart of one or more curves, each a list of (x, y) points, with axes, ticks and a legend.

    Args:
        chart_id: the SVG's id (tests and links find charts by it).
        title: what the chart shows, drawn above it.
        series: (legend name, points) per curve.
        x_label: the x axis' title with its unit.
        y_label: the y axis' title with its unit.
        x_range: the x axis' (low, high), default the data's.
        y_range: the y axis' (low, high), default the data's.
        diagonal: draw the y = x line (a random classifier's ROC, a perfect calibration).
        width: pixels.
        height: pixels.
        note: a sentence under the chart.
        x_ticks: the x ticks (default: round values across the range), e.g. whole epochs.
    """
    points = [p for _, pts in series for p in pts if all(math.isfinite(v) for v in p)]
    xs = [p[0] for p in points] or [0.0, 1.0]
    ys = [p[1] for p in points] or [0.0, 1.0]
    x_range = x_range or (min(xs), max(xs))
    if y_range is None:
        pad = (max(ys) - min(ys)) * 0.08 or abs(max(ys)) * 0.1 or 1.0
        y_range = (min(ys) - pad, max(ys) + pad)
    frame = _Frame(width, height, x_range, y_range)
    drawn = []
    for index, (name, pts) in enumerate(series):
        finite = [p for p in pts if all(math.isfinite(v) for v in p)]
        coordinates = [(frame.x(x), frame.y(y)) for x, y in finite]
        drawn.append(
            {
                "name": name,
                "color": COLORS[index % len(COLORS)],
                # The legend runs in one line between the title and the plot.
                "legend_x": frame.left + index * 150,
                "points": " ".join(f"{x},{y}" for x, y in coordinates),
                # Markers only where few points make a line hard to read.
                "markers": [
                    {"x": cx, "y": cy, "title": f"{name}: {tick_label(x)}, {y:.4f}"}
                    for (cx, cy), (x, y) in zip(coordinates, finite, strict=True)
                ]
                if len(finite) <= 30
                else [],
            }
        )
    chart = frame.axes(x_label, y_label, nice_ticks(*x_range) if x_ticks is None else x_ticks, nice_ticks(*y_range))
    chart.update(id=chart_id, title=title, series=drawn, note=note, kind="line", diagonal=None)
    if diagonal:
        low = max(x_range[0], y_range[0])
        high = min(x_range[1], y_range[1])
        chart["diagonal"] = {"x1": frame.x(low), "y1": frame.y(low), "x2": frame.x(high), "y2": frame.y(high)}
    return chart


CALIBRATION_BINS = 10


def calibration_points(buckets: Sequence[Any], bins: int = CALIBRATION_BINS) -> list[tuple[float, float]]:
    """(mean prediction, observed rate) per tenth of the prediction range: TFMA's 10,000 fine buckets hold a
    few examples each, too few for an observed rate that means anything."""
    totals: dict[int, list[float]] = {}
    for b in buckets:
        index = min(int(b.mean_prediction * bins), bins - 1)
        total = totals.setdefault(index, [0.0, 0.0, 0.0])
        total[0] += b.examples
        total[1] += b.mean_prediction * b.examples
        total[2] += b.mean_label * b.examples
    return [(p / n, label / n) for _, (n, p, label) in sorted(totals.items()) if n > 0]


def bar_rows(
    chart_id: str,
    items: Sequence[tuple[str, float | None]],
    maximum: float,
    value_format: str = "{:.3f}",
    marker: float | None = None,
    marker_label: str = "",
    bad_above: bool | None = None,
    width: int = 460,
    label_width: int = 150,
    row_height: int = 20,
    axis_label: str = "",
    show_axis: bool = True,
) -> dict[str, Any]:
    """Horizontal bars, one per (label, value), on a scale from 0 to `maximum` with ticks.

    A value of None is drawn as "n/a" without a bar (e.g. AUC of a slice with one class only). With a
    marker, `bad_above` says which side of it is bad (drawn red): True above it, False below, None neither.
    """
    room = width - label_width - 60
    top = maximum if maximum > 0 else 1.0
    rows = []
    for index, (label, value) in enumerate(items):
        shown = None if value is None or not math.isfinite(value) else min(max(value, 0.0), top)
        length = 0.0 if shown is None else round(room * shown / top, 1)
        rows.append(
            {
                "y": index * row_height + 4,
                "label": label if len(label) <= 24 else label[:23] + "…",
                "full_label": label,
                "length": length,
                "text": "n/a" if value is None or not math.isfinite(value) else value_format.format(value),
                # Red when on the wrong side of the marker: above a drift limit, below an accuracy bound.
                "over": marker is not None
                and bad_above is not None
                and value is not None
                and (value > marker if bad_above else value < marker),
            }
        )
    height = row_height * len(items) + ((44 if axis_label else 28) if show_axis else 8)
    ticks = [t for t in nice_ticks(0.0, top, 4) if t <= top]
    return {
        "id": chart_id,
        "kind": "bars",
        "width": width,
        "height": height,
        "label_width": label_width,
        "row_height": row_height,
        "bar_height": row_height - 6,
        "rows": rows,
        "axis_y": row_height * len(items) + 6,
        "ticks": [{"at": round(label_width + room * t / top, 1), "text": tick_label(t)} for t in ticks],
        "axis_label": axis_label,
        "show_axis": show_axis,
        "marker": None
        if marker is None
        else {"x": round(label_width + room * min(marker, top) / top, 1), "title": marker_label},
    }


def _skewed(buckets: Sequence[tuple[float, float, float]]) -> bool:
    """Whether equal-width buckets hide the data: most rows in one bucket."""
    counts = [max(c, 0.0) for _, _, c in buckets]
    return bool(counts) and sum(counts) > 0 and max(counts) / sum(counts) > 0.5


def merged_quantiles(quantiles: Sequence[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """Quantile buckets with zero-width ones (many rows of one value, e.g. zero tips) merged into the next,
    so every bucket has a width and a finite density."""
    merged: list[tuple[float, float, float]] = []
    pending: tuple[float, float] | None = None  # (low, count) carried into the next bucket with a width
    span = (quantiles[-1][1] - quantiles[0][0]) if quantiles else 0.0
    for low, high, count in quantiles:
        if pending is not None:
            low, count = pending[0], count + pending[1]
            pending = None
        if high - low <= span * 1e-6:
            pending = (low, count)
            continue
        merged.append((low, high, count))
    if pending is not None and merged:
        low, high, count = merged[-1]
        merged[-1] = (low, high, count + pending[1])
    return [b for b in merged if b[2] > 0]


def histogram(
    chart_id: str,
    feature: str,
    buckets: Sequence[tuple[float, float, float]],
    quantiles: Sequence[tuple[float, float, float]] = (),
    width: int = 340,
    height: int = 190,
) -> dict[str, Any] | None:
    """A histogram with axes: TFDV's equal-width buckets, or for a skewed feature its quantile buckets
    (each about a tenth of the rows) on a log axis, each bar's height its rows per unit of the feature.

    Returns:
        The chart, or None without counts.
    """
    counts = [max(0.0, c) for _, _, c in buckets]
    if not buckets or not any(counts):
        return None
    log = bool(quantiles) and _skewed(buckets) and quantiles[0][0] >= 0
    if log:
        # log10(1 + x): zeros stay drawable, and a fare of 5 and one of 500 both get room.
        def scale(v: float) -> float:
            return math.log10(1.0 + max(v, 0.0))

        shown = merged_quantiles(quantiles)
        heights = [count / max(high - low, 1e-9) for low, high, count in shown]
        y_label = "rows per unit"
        x_label = f"{feature} (log scale; bins of about 10 % of rows)"
    else:

        def scale(v: float) -> float:
            return v

        shown = list(buckets)
        heights = counts
        y_label = "rows"
        x_label = f"{feature} (equal-width bins)"
    x_low, x_high = scale(shown[0][0]), scale(shown[-1][1])
    frame = _Frame(width, height, (x_low, x_high), (0.0, max(heights) * 1.05), left=52)
    bars = []
    for (low, high, count), value in zip(shown, heights, strict=True):
        x1, x2 = frame.x(scale(low)), frame.x(scale(high))
        bars.append(
            {
                "x": x1,
                "width": max(round(x2 - x1 - 1, 1), 1.0),
                "y": frame.y(value),
                "height": round(frame.y(0.0) - frame.y(value), 1),
                "title": f"{tick_label(low)} to {tick_label(high)}: {count:,.0f} rows",
            }
        )
    if log:
        candidates = [0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10_000.0, 30_000.0, 100_000.0]
        values = [v for v in candidates if x_low <= scale(v) <= x_high]
        x_ticks = [scale(v) for v in values]

        def x_text(t: float) -> str:
            return tick_label(10**t - 1.0)

    else:
        x_ticks = nice_ticks(x_low, x_high, 4)

        def x_text(t: float) -> str:
            return tick_label(t)

    chart = frame.axes(x_label, y_label, x_ticks, nice_ticks(0.0, max(heights), 3), x_text=x_text)
    chart.update(id=chart_id, kind="histogram", bars=bars, title="", note="")
    return chart


def graph(
    chart_id: str,
    nodes: Sequence[Mapping[str, Any]],
    edges: Sequence[tuple[str, str]],
    box_width: int = 170,
    box_height: int = 46,
) -> dict[str, Any]:
    """A left-to-right picture of a DAG: each node in the column of its longest path from a source.

    Args:
        chart_id: the SVG's id.
        nodes: {"id", "label", "detail", "state"} per node, in a stable order (rows within a column follow it).
        edges: (from id, to id); edges to unknown nodes are left out.
        box_width: pixels.
        box_height: pixels.
    """
    known = {n["id"] for n in nodes}
    edges = [(a, b) for a, b in edges if a in known and b in known and a != b]
    depth = {n["id"]: 0 for n in nodes}
    for _ in range(len(nodes)):  # longest path by relaxation; a DAG settles within len(nodes) passes
        changed = False
        for a, b in edges:
            if depth[b] < depth[a] + 1:
                depth[b] = depth[a] + 1
                changed = True
        if not changed:
            break
    columns: dict[int, list[str]] = {}
    for node in nodes:
        columns.setdefault(depth[node["id"]], []).append(node["id"])
    gap_x, gap_y = 44, 16
    position = {}
    for column, members in columns.items():
        for row, node_id in enumerate(members):
            position[node_id] = (12 + column * (box_width + gap_x), 12 + row * (box_height + gap_y))
    boxes = [
        {
            **node,
            "x": position[node["id"]][0],
            "y": position[node["id"]][1],
            "color": STATE_COLORS.get(str(node.get("state", "")), "#3367d6"),
        }
        for node in nodes
    ]
    lines = []
    for a, b in edges:
        (ax, ay), (bx, by) = position[a], position[b]
        x1, y1, x2, y2 = ax + box_width, ay + box_height / 2, bx - 2, by + box_height / 2
        # The arrowhead as a polygon (not an SVG marker, which would need a url() reference).
        angle = math.atan2(y2 - y1, x2 - x1)
        head = " ".join(
            f"{x2 - 8 * math.cos(angle + turn):.1f},{y2 - 8 * math.sin(angle + turn):.1f}" for turn in (0.45, -0.45)
        )
        lines.append(
            {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "head": f"{x2:.1f},{y2:.1f} {head}", "title": f"{a} → {b}"}
        )
    rows = max((len(m) for m in columns.values()), default=1)
    return {
        "id": chart_id,
        "kind": "graph",
        "width": 24 + len(columns) * (box_width + gap_x) - gap_x,
        "height": 24 + rows * (box_height + gap_y) - gap_y,
        "box_width": box_width,
        "box_height": box_height,
        "boxes": boxes,
        "edges": lines,
    }
