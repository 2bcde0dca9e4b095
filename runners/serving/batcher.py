"""Joins concurrent predict requests into one model call, as TF Serving's batching does.

Requests for the same version and signature that arrive within `timeout` of the first (or while the
model threads are busy) go into one call of at most `max_rows` rows. A batch is called at once, without
waiting out the timeout, when every request the server is answering (`in_flight`) has joined it and it
holds at least as many requests as the last call: nobody is left to wait for, and the timeout would only
add latency (TF Serving's answer to low load is a small timeout; this is the same, taken to zero when
there is nothing to join). At concurrency 1 that is the lone request; at a steady concurrency N, the
N-th. Such a batch is called on the event loop itself: with every request in it there is nothing else
for the loop to do meanwhile, and handing it to a model thread and the answer back cost two thread
wake-ups (a fifth of the throughput at concurrency 8 on the 2-core machine of BENCHMARKS.md). The first
request after a call of several still waits alone: the others are on their way, and calling it at once
would make more, smaller calls. Other batches run on a small thread pool, so the event loop keeps
reading and parsing requests while TensorFlow computes (TensorFlow releases the GIL), and both cores
work. A request larger than `max_rows` is called on its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

# Model calls at once: one per core of the 2-core machine this was measured on; each TensorFlow call
# also uses its own intra-op threads.
MODEL_THREADS = 2
# A batch everyone in flight has joined is called on the event loop up to this many rows (one call of
# 64 rows costs about what one row does); a larger one goes to a model thread, so a big call never
# holds up reading new connections for long.
LOOP_CALL_MAX_ROWS = 64


@dataclasses.dataclass
class _Pending:
    items: list[tuple[list[Any], asyncio.Future[list[list[float]]]]] = dataclasses.field(default_factory=list)
    rows: int = 0
    timer: asyncio.TimerHandle | None = None


class Batcher:
    """Batches calls of `run(batch) -> one result per row` that share a key.

    Args:
        max_rows: rows in one call at most.
        timeout_seconds: how long the first request of a batch waits for others to join.
        observe: called with each call's row count (the batch-size histogram).
        in_flight: requests the server is answering, the submitting one included; when all of them are
            in the batch and it is as large as the last call, the batch is called without waiting
            (None: always wait).
    """

    def __init__(
        self,
        max_rows: int,
        timeout_seconds: float,
        observe: Callable[[int], None] | None = None,
        in_flight: Callable[[], int] | None = None,
    ) -> None:
        self.max_rows = max_rows
        self.timeout = timeout_seconds
        self.observe = observe
        self.in_flight = in_flight
        self._pending: dict[Any, _Pending] = {}
        # Requests in the last call made: a batch that reaches it with everyone in flight joined need not wait.
        self._last_requests = 1
        self._runners: dict[Any, Callable[[list[Any]], list[list[float]]]] = {}
        self._executor = ThreadPoolExecutor(MODEL_THREADS, thread_name_prefix="model")

    async def submit(
        self, key: Any, run: Callable[[list[Any]], list[list[float]]], rows: list[Any]
    ) -> list[list[float]]:
        """Returns run's results for `rows`, computed in one call with other requests of the same key."""
        loop = asyncio.get_running_loop()
        if len(rows) >= self.max_rows:
            return await loop.run_in_executor(self._executor, self._call, run, rows)
        future: asyncio.Future[list[list[float]]] = loop.create_future()
        pending = self._pending.setdefault(key, _Pending())
        if pending.rows + len(rows) > self.max_rows:
            self._flush(key)
            pending = self._pending.setdefault(key, _Pending())
        self._runners[key] = run
        pending.items.append((rows, future))
        pending.rows += len(rows)
        # Everyone the server is answering has joined, and as many as the last call held: nobody is left to
        # wait for (at concurrency 1 that is the lone request; at steady concurrency N, the N-th).
        complete = (
            self.in_flight is not None
            and len(pending.items) >= self._last_requests
            and self.in_flight() <= len(pending.items)
        )
        if complete and pending.rows <= LOOP_CALL_MAX_ROWS:
            self._call_here(key)
        elif pending.rows >= self.max_rows or self.timeout == 0 or complete:
            self._flush(key)
        elif pending.timer is None:
            pending.timer = loop.call_later(self.timeout, self._flush, key)
        return await future

    def _call(self, run: Callable[[list[Any]], list[list[float]]], rows: list[Any]) -> list[list[float]]:
        if self.observe is not None:
            self.observe(len(rows))
        return run(rows)

    def _take(self, key: Any) -> tuple[_Pending, Callable[[list[Any]], list[list[float]]], list[Any]] | None:
        """Removes a key's pending batch: it, its run and its rows (None when there is none)."""
        pending = self._pending.pop(key, None)
        if pending is None:
            return None
        if pending.timer is not None:
            pending.timer.cancel()
        run = self._runners.pop(key)  # not kept: it holds its model, which may be unloaded later
        self._last_requests = len(pending.items)
        return pending, run, [row for rows, _ in pending.items for row in rows]

    def _call_here(self, key: Any) -> None:
        taken = self._take(key)
        if taken is not None:
            pending, run, batch = taken
            outcome: list[list[float]] | BaseException
            try:
                outcome = self._call(run, batch)
            except Exception as error:  # each request of the batch gets it, as from a model thread
                outcome = error
            _deliver(pending, outcome)

    def _flush(self, key: Any) -> None:
        taken = self._take(key)
        if taken is None:
            return
        pending, run, batch = taken
        task = asyncio.get_running_loop().run_in_executor(self._executor, self._call, run, batch)

        task.add_done_callback(lambda done: _deliver(pending, done.exception() or done.result()))

    def close(self) -> None:
        """Waits for running model calls, then stops the threads."""
        self._executor.shutdown(wait=True)


def _deliver(pending: _Pending, outcome: list[list[float]] | BaseException) -> None:
    """Gives each request of a batch its rows of the call's result, or the call's error."""
    start = 0
    for rows, future in pending.items:
        if not future.cancelled():
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome[start : start + len(rows)])
        start += len(rows)
