"""The request log: sampled predict rows appended as tf.Examples under <home>/serving-logs/, in
files that rotate by size and age, written by a background thread; and reading them back."""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from runners.serving.metrics import Registry
from runners.serving.requests import ServingFeature

# Request log files rotate at this size or age, so each file is complete and small enough to move.
LOG_FILE_BYTES = 16 * 1024 * 1024


LOG_FILE_SECONDS = 3600.0


# Rows waiting for the log writer; beyond this, sampled rows are dropped (and counted) rather than
# slowing down predictions.
LOG_QUEUE_ROWS = 100_000


def example_of_row(row: dict[str, Any], features: Sequence[ServingFeature]) -> bytes:
    """Serializes one checked row as a tf.Example; a missing value becomes a feature with no value,
    as CsvExampleGen writes an empty cell, so statistics of logs and of training data compare alike."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for feature in features:
        value = row.get(feature.name)
        slot = example.features.feature[feature.name]
        if feature.kind == "string":
            slot.bytes_list.value.extend([] if value is None else [str(value).encode()])
        elif feature.kind == "int":
            slot.int64_list.value.extend([] if value is None else [int(value)])
        else:
            slot.float_list.value.extend([] if value is None else [float(value)])
    return bytes(example.SerializeToString())


class RequestLog:
    """Appends a sample of predict requests to TFRecord files of tf.Example under one folder.

    A writer thread does the disk work, so a prediction never waits for it; it flushes whenever it
    has nothing left to write, so a crash loses at most the rows still queued. Files rotate by size
    and age and are named requests-<UTC time>-<pid>-<n>.tfrecord.
    """

    def __init__(self, folder: str | Path, sampling: float, metrics: Registry) -> None:
        self.folder = Path(folder)
        self.sampling = sampling
        self.metrics = metrics
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue()
        self._queued_rows = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._files = 0

    def start(self) -> None:
        """Starts the writer thread (nothing happens when the sampling rate is 0)."""
        if self.sampling <= 0:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._write_loop, name="request-log", daemon=True)
        self._thread.start()

    def offer(self, make_rows: Callable[[], list[bytes]]) -> None:
        """Logs a request's rows with the sampling probability; make_rows is only called when sampled."""
        if self._thread is None or random.random() >= self.sampling:
            return
        rows = make_rows()
        with self._lock:
            if self._queued_rows + len(rows) > LOG_QUEUE_ROWS:
                self.metrics.inc("taxi_serving_log_dropped_rows_total", amount=len(rows))
                return
            self._queued_rows += len(rows)
        self._queue.put(rows)

    def close(self) -> None:
        """Writes what is queued, closes the current file and stops the writer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=60)
            self._thread = None

    def _new_file(self) -> Any:
        import tensorflow as tf

        self._files += 1
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.folder / f"requests-{stamp}-{os.getpid()}-{self._files}.tfrecord"
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
            for rows in batches:
                if rows is None:
                    done = True
                    continue
                with self._lock:
                    self._queued_rows -= len(rows)
                for row in rows:
                    if writer is None or size >= LOG_FILE_BYTES or time.monotonic() - opened >= LOG_FILE_SECONDS:
                        if writer is not None:
                            writer.close()
                        writer, opened = self._new_file()
                        size = 0
                    writer.write(row)
                    size += len(row) + 16  # TFRecord framing: length, two CRCs
                written += len(rows)
            if writer is not None:
                writer.flush()
            # Counted once on disk, so a reader that sees the count can read the rows.
            self.metrics.inc("taxi_serving_logged_rows_total", amount=written)
            written = 0
        if writer is not None:
            writer.close()
