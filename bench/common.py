"""Helpers the bench scripts share: peak memory of a process tree, component durations from ML Metadata.

Standard library plus ml_metadata and TFMA, so the same code measures our pipeline and the TFX reference.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def machine() -> str:
    """One line naming the CPU, its core count and the RAM, for the figures' caption."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except OSError:
        mem_kb = 0
    load = os.getloadavg()
    return f"{model}, nproc {os.cpu_count()}, RAM {mem_kb / 1024 / 1024:.1f} GiB, load average at start {load[0]:.2f}"


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces: the parent pid is the second field after its closing ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    children = _children_map()
    total_pages = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):  # the process may have ended
            total_pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        stack.extend(children.get(pid, []))
    return total_pages * PAGE_KB / 1024


class MemorySampler:
    """Samples the RSS of a process tree in a thread; keeps the peak and a (time, MiB) trace."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak_mb = 0.0
        self.trace: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            rss = tree_rss_mb(self.pid)
            self.trace.append((time.time(), rss))
            self.peak_mb = max(self.peak_mb, rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_between(self, start: float, end: float) -> float:
        """Peak RSS of the samples taken in [start, end] (epoch seconds)."""
        inside = [mb for t, mb in self.trace if start <= t <= end]
        return max(inside, default=0.0)


def run_measured(
    command: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None, log: Path | None = None
) -> dict[str, Any]:
    """Runs a command, returns its wall time, exit code and the peak RSS of its process tree."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    started = time.monotonic()
    try:
        process = subprocess.Popen(list(command), env=dict(env) if env else None, cwd=cwd, stdout=out, stderr=out)
        with MemorySampler(process.pid) as sampler:
            rc = process.wait()
    finally:
        if log:
            out.close()  # type: ignore[union-attr]
    return {"wall_s": time.monotonic() - started, "rc": rc, "peak_mb": sampler.peak_mb}


def component_durations(metadata_path: str | Path, since: float = 0.0) -> dict[str, dict[str, Any]]:
    """Per-component wall time of the pipeline runs recorded in an ML Metadata SQLite file since a time.

    Duration is the execution's last update minus its creation (ML Metadata's own timestamps), so
    it covers the executor and the driver/publisher work the launcher records around it.

    Args:
        metadata_path: the SQLite file.
        since: epoch seconds; runs started before are left out (a backfilled run of ours is several
            LocalDagRunner invocations, a run that changed nothing records none).

    Returns:
        node id -> {"seconds": float, "state": str, "cached": bool}.
    """
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata_path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)
    runs = sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.create_time_since_epoch)
    states = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
    durations: dict[str, dict[str, Any]] = {}
    for run in (r for r in runs if r.create_time_since_epoch >= since * 1000):
        for execution in store.get_executions_by_context(run.id):
            node = _node_id(store, execution)
            seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
            state = states.get(execution.last_known_state, "?")
            previous = durations.get(node, {"seconds": 0.0, "state": state, "cached": True})
            durations[node] = {
                "seconds": previous["seconds"] + seconds,
                "state": state,
                "cached": previous["cached"] and state == "CACHED",
            }
    return durations


def _node_id(store: Any, execution: Any) -> str:
    for context in store.get_contexts_by_execution(execution.id):
        if context.name.count(".") >= 1 and store.get_context_types_by_id([context.type_id])[0].name == "node":
            return context.name.split(".", 1)[1]
    return f"execution-{execution.id}"


def evaluation_metrics(metadata_path: str | Path) -> dict[str, float]:
    """Overall-slice metrics of the newest ModelEvaluation artifact in an ML Metadata SQLite file."""
    import tensorflow_model_analysis as tfma
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata_path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)
    evaluations = sorted(store.get_artifacts_by_type("ModelEvaluation"), key=lambda a: a.id)
    if not evaluations:
        return {}
    values: dict[str, float] = {}
    for slice_metrics in tfma.load_metrics(evaluations[-1].uri):
        if slice_metrics.slice_key.single_slice_keys:
            continue
        for item in slice_metrics.metric_keys_and_values:
            # With a baseline model TFMA also reports the baseline's values and the differences.
            if item.key.is_diff or item.key.model_name not in ("", "candidate"):
                continue
            if item.value.HasField("double_value"):
                values[item.key.name] = item.value.double_value.value
    return values


def fmt_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table."""

    def cell(value: Any) -> str:
        return (
            f"{value:.3f}"
            if isinstance(value, float) and abs(value) < 10
            else (f"{value:.1f}" if isinstance(value, float) else str(value))
        )

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
