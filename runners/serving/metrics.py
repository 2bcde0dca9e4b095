"""Prometheus text exposition (format 0.0.4) for the model server, without a client library.

Counters, gauges and cumulative histograms with labels; every method is thread-safe.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Sequence

Labels = tuple[tuple[str, str], ...]

# Seconds: from a cached small request (about 1 ms) to a large batch on a busy machine.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Predicted probability of a big tip, in tenths.
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _labels(labels: dict[str, str] | None) -> Labels:
    return tuple(sorted((labels or {}).items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _render_labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    items = [*labels, *([extra] if extra else [])]
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in items) + "}"


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1


class Registry:
    """Metrics of one process: declare each metric once, then update it from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._meta: dict[str, tuple[str, str]] = {}  # name -> (type, help)
        self._values: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, _Histogram]] = {}
        self._buckets: dict[str, tuple[float, ...]] = {}

    def declare(self, name: str, kind: str, help_text: str, buckets: Sequence[float] = ()) -> None:
        """Declares a metric; kind is "counter", "gauge" or "histogram" (with its bucket upper bounds)."""
        with self._lock:
            self._meta[name] = (kind, help_text)
            if kind == "histogram":
                self._histograms.setdefault(name, {})
                self._buckets[name] = tuple(sorted(buckets))
            else:
                self._values.setdefault(name, {})

    def inc(self, name: str, labels: dict[str, str] | None = None, amount: float = 1.0) -> None:
        """Adds to a counter."""
        key = _labels(labels)
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, labels: dict[str, str] | None = None) -> None:
        """Sets a gauge."""
        with self._lock:
            self._values[name][_labels(labels)] = value

    def observe(self, name: str, values: Sequence[float] | float, labels: dict[str, str] | None = None) -> None:
        """Adds one or more observations to a histogram."""
        key = _labels(labels)
        with self._lock:
            series = self._histograms[name]
            histogram = series.get(key)
            if histogram is None:
                histogram = series[key] = _Histogram(self._buckets[name])
            for value in [values] if isinstance(values, (int, float)) else values:
                histogram.observe(float(value))

    def render(self) -> str:
        """Returns every metric in the Prometheus text format."""
        lines: list[str] = []
        with self._lock:
            for name, (kind, help_text) in self._meta.items():
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
                if kind != "histogram":
                    for labels, value in sorted(self._values[name].items()):
                        lines.append(f"{name}{_render_labels(labels)} {_number(value)}")
                    continue
                for labels, histogram in sorted(self._histograms[name].items()):
                    cumulative = 0
                    for bound, count in zip((*histogram.buckets, float("inf")), histogram.counts, strict=True):
                        cumulative += count
                        le = ("le", _number(bound))
                        lines.append(f"{name}_bucket{_render_labels(labels, le)} {cumulative}")
                    lines.append(f"{name}_sum{_render_labels(labels)} {_number(histogram.total)}")
                    lines.append(f"{name}_count{_render_labels(labels)} {histogram.count}")
        return "\n".join(lines) + "\n"
