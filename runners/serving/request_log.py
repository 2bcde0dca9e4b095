"""The request log: sampled predict rows appended as tf.Examples under <home>/serving-logs/, in
files that rotate by size and age and are deleted beyond a total size and age, written by a
background thread; strings cut short, chosen features left out, out-of-domain values marked."""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runners.serving.metrics import ServingMetrics
from runners.serving.requests import ServingFeature

# Request log files rotate at this size or age, so each file is complete and small enough to move.
LOG_FILE_BYTES = 16 * 1024 * 1024


LOG_FILE_SECONDS = 3600.0


# Rows waiting for the log writer; beyond this, sampled rows are dropped (and counted) rather than
# slowing down predictions.
LOG_QUEUE_ROWS = 100_000


# The feature of a logged example that names the features whose value was outside the schema's
# domain; `skew` reads only the schema's features, so it never mistakes it for data.
OUT_OF_DOMAIN_FEATURE = "_out_of_domain"


def example_of_row(
    row: dict[str, Any],
    features: Sequence[ServingFeature],
    exclude: Sequence[str] = (),
    max_string: int | None = None,
    out_of_domain: Sequence[str] = (),
) -> bytes:
    """Serializes one checked row as a tf.Example; a missing value becomes a feature with no value,
    as CsvExampleGen writes an empty cell, so statistics of logs and of training data compare alike.

    Args:
        row: feature -> checked value.
        features: the SERVING features.
        exclude: features left out of the log altogether.
        max_string: string values are cut to this many characters.
        out_of_domain: features named under OUT_OF_DOMAIN_FEATURE.
    """
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for feature in features:
        if feature.name in exclude:
            continue
        value = row.get(feature.name)
        slot = example.features.feature[feature.name]
        if feature.kind == "string":
            text = None if value is None else str(value)[:max_string]
            slot.bytes_list.value.extend([] if text is None else [text.encode()])
        elif feature.kind == "int":
            slot.int64_list.value.extend([] if value is None else [int(value)])
        else:
            slot.float_list.value.extend([] if value is None else [float(value)])
    if out_of_domain:
        example.features.feature[OUT_OF_DOMAIN_FEATURE].bytes_list.value.extend(n.encode() for n in out_of_domain)
    return bytes(example.SerializeToString())


_Batch = tuple[list[dict[str, Any]], Sequence[ServingFeature], list[list[str]]]


class RequestLog:
    """Appends a sample of predict requests to TFRecord files of tf.Example under one folder.

    A writer thread does the serializing and the disk work, so a prediction never waits for it; it
    flushes whenever it has nothing left to write, so a crash loses at most the rows still queued.
    Files rotate by size and age, are named requests-<UTC time>-<pid>-<n>.tfrecord, are readable by
    their owner only, and the oldest are deleted once the folder holds more than `max_bytes` or they
    are older than `max_age_days`.
    """

    def __init__(
        self,
        folder: str | Path,
        sampling: float,
        metrics: ServingMetrics,
        max_bytes: int = 256 * 1024 * 1024,
        max_age_days: float = 30.0,
        max_string: int = 256,
        exclude: Sequence[str] = (),
    ) -> None:
        self.folder = Path(folder)
        self.sampling = sampling
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.max_age_seconds = max_age_days * 86400
        self.max_string = max_string
        self.exclude = tuple(exclude)
        self._queue: queue.Queue[_Batch | None] = queue.Queue()
        self._queued_rows = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._files = 0
        self._current: Path | None = None

    def start(self) -> None:
        """Starts the writer thread (nothing happens when the sampling rate is 0)."""
        if self.sampling <= 0:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.enforce_retention()
        self._thread = threading.Thread(target=self._write_loop, name="request-log", daemon=True)
        self._thread.start()

    def offer(
        self, rows: list[dict[str, Any]], features: Sequence[ServingFeature], out_of_domain: list[list[str]]
    ) -> None:
        """Logs a request's checked rows with the sampling probability."""
        if self._thread is None or random.random() >= self.sampling:
            return
        with self._lock:
            if self._queued_rows + len(rows) > LOG_QUEUE_ROWS:
                self.metrics.log_dropped_rows.inc(len(rows))
                return
            self._queued_rows += len(rows)
        self._queue.put((rows, features, out_of_domain))

    def close(self) -> None:
        """Writes what is queued, closes the current file and stops the writer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=60)
            self._thread = None

    def enforce_retention(self) -> None:
        """Deletes the oldest closed log files beyond the total size, and those older than the age limit."""
        files = []
        for path in self.folder.glob("requests-*.tfrecord"):
            if path == self._current:
                continue
            try:
                stat = path.stat()
            except OSError:  # deleted meanwhile
                continue
            files.append((stat.st_mtime, stat.st_size, path))
        files.sort()
        total = sum(size for _, size, _ in files)
        now = time.time()
        for mtime, size, path in files:
            if total <= self.max_bytes and now - mtime <= self.max_age_seconds:
                continue
            try:
                path.unlink()
            except OSError:
                continue
            total -= size
            self.metrics.log_deleted_files.inc()

    def _new_file(self) -> Any:
        import tensorflow as tf

        self._files += 1
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.folder / f"requests-{stamp}-{os.getpid()}-{self._files}.tfrecord"
        # Created owner-only before TensorFlow opens it: logged requests are the clients' data.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
        self._current = path
        self.enforce_retention()
        return tf.io.TFRecordWriter(str(path)), time.monotonic()

    def _write_loop(self) -> None:
        writer: Any = None
        opened = 0.0
        size = 0
        written = 0
        done = False
        while not done:
            batches = [self._queue.get()]
            while True:  # take everything queued, then flush once
                try:
                    batches.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for batch in batches:
                if batch is None:
                    done = True
                    continue
                rows, features, outside = batch
                with self._lock:
                    self._queued_rows -= len(rows)
                for row, bad in zip(rows, outside or [[]] * len(rows), strict=False):
                    record = example_of_row(row, features, self.exclude, self.max_string, bad)
                    if writer is None or size >= LOG_FILE_BYTES or time.monotonic() - opened >= LOG_FILE_SECONDS:
                        if writer is not None:
                            writer.close()
                        writer, opened = self._new_file()
                        size = 0
                    writer.write(record)
                    size += len(record) + 16  # TFRecord framing: length, two CRCs
                written += len(rows)
            if writer is not None:
                writer.flush()
            # Counted once on disk, so a reader that sees the count can read the rows.
            self.metrics.logged_rows.inc(written)
            written = 0
        if writer is not None:
            writer.close()
