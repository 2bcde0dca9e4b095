"""The batcher: a request alone on the server is called at once, concurrent ones are joined into one call;
a batch everyone in flight joined runs on the event loop, others on a model thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from runners.serving.batcher import LOOP_CALL_MAX_ROWS, Batcher

HOUR = 3600.0
_T = TypeVar("_T")


def _doubling(calls: list[list[Any]]) -> Any:
    def run(batch: list[Any]) -> list[list[float]]:
        calls.append(list(batch))
        return [[2.0 * row] for row in batch]

    return run


def _run(batcher: Batcher, scenario: Coroutine[Any, Any, _T]) -> _T:
    """Runs a scenario on a fresh event loop, then stops the batcher's model threads."""
    try:
        return asyncio.run(scenario)
    finally:
        batcher.close()


def _three_in_flight() -> tuple[list[list[Any]], list[int], Batcher]:
    """A batcher whose server answers three requests (change in_flight[0] to change that), and its calls."""
    in_flight = [3]
    return [], in_flight, Batcher(max_rows=256, timeout_seconds=0.05, in_flight=lambda: in_flight[0])


async def _call_of_three(batcher: Batcher, run: Any) -> None:
    """Three requests joined into one call: what a steady concurrency of three leaves as the last call."""
    await asyncio.gather(*(batcher.submit("v1", run, [float(i)]) for i in range(3)))


def test_a_request_alone_is_called_at_once_not_after_the_batch_timeout() -> None:
    calls: list[list[Any]] = []
    batcher = Batcher(max_rows=256, timeout_seconds=HOUR, in_flight=lambda: 1)

    async def one() -> list[list[float]]:
        # Waiting out the hour-long timeout would fail this long before the hour is up.
        return await asyncio.wait_for(batcher.submit("v1", _doubling(calls), [1.5]), 60)

    assert _run(batcher, one()) == [[3.0]]
    assert calls == [[1.5]]


def test_requests_in_flight_together_are_joined_into_one_call() -> None:
    calls: list[list[Any]] = []
    sizes: list[int] = []
    batcher = Batcher(max_rows=256, timeout_seconds=0.2, observe=sizes.append, in_flight=lambda: 3)

    async def three() -> list[list[list[float]]]:
        run = _doubling(calls)
        return list(await asyncio.gather(*(batcher.submit("v1", run, [float(i)]) for i in range(3))))

    assert _run(batcher, three()) == [[[0.0]], [[2.0]], [[4.0]]]
    assert calls == [[0.0, 1.0, 2.0]] and sizes == [3]


def test_a_request_with_others_in_flight_waits_for_the_timeout_then_runs_alone() -> None:
    # The other request in flight (e.g. a status GET) never joins: the first runs when its timeout ends.
    calls: list[list[Any]] = []
    batcher = Batcher(max_rows=256, timeout_seconds=0.05, in_flight=lambda: 2)

    async def one() -> tuple[bool, list[list[float]]]:
        task = asyncio.ensure_future(batcher.submit("v1", _doubling(calls), [1.0]))
        await asyncio.sleep(0)
        held = not task.done() and calls == []
        return held, await asyncio.wait_for(task, 60)

    held, result = _run(batcher, one())
    assert held and result == [[2.0]] and calls == [[1.0]]


def test_after_a_joined_call_a_lone_request_waits_for_others_once_then_is_called_at_once_again() -> None:
    # Under steady concurrent load the first request of the next batch is alone for a moment: calling it at
    # once would halve the batches. It waits once; a call of one request means low load again.
    calls, in_flight, batcher = _three_in_flight()

    async def scenario() -> tuple[bool, bool]:
        run = _doubling(calls)
        await _call_of_three(batcher, run)
        in_flight[0] = 1
        first = asyncio.ensure_future(batcher.submit("v1", run, [5.0]))
        await asyncio.sleep(0)
        first_held = "v1" in batcher._pending  # a batch waiting for its timer, not handed to the model
        await asyncio.wait_for(first, 60)
        batcher.timeout = HOUR  # waiting now would fail the wait_for below
        second = asyncio.ensure_future(batcher.submit("v1", run, [6.0]))
        await asyncio.sleep(0)
        second_at_once = "v1" not in batcher._pending
        await asyncio.wait_for(second, 60)
        return first_held, second_at_once

    first_held, second_at_once = _run(batcher, scenario())
    assert first_held and second_at_once
    assert calls == [[0.0, 1.0, 2.0], [5.0], [6.0]]


def test_at_steady_concurrency_a_batch_is_called_once_everyone_in_flight_has_joined() -> None:
    # Three clients in a loop: after a call of three, the third request of the next batch completes it.
    calls, in_flight, batcher = _three_in_flight()

    async def scenario() -> tuple[bool, bool]:
        run = _doubling(calls)
        await _call_of_three(batcher, run)
        batcher.timeout = HOUR  # from here, waiting out the timeout would fail the wait_for below
        in_flight[0] = 2
        early = [asyncio.ensure_future(batcher.submit("v1", run, [float(i)])) for i in (3, 4)]
        await asyncio.sleep(0)
        two_held = "v1" in batcher._pending  # two of the three in flight: the third is on its way
        in_flight[0] = 3
        last = asyncio.ensure_future(batcher.submit("v1", run, [5.0]))
        await asyncio.sleep(0)
        called = "v1" not in batcher._pending
        await asyncio.wait_for(asyncio.gather(*early, last), 60)
        return two_held, called

    two_held, called = _run(batcher, scenario())
    assert two_held and called
    assert calls == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def _threads_of(calls: list[str]) -> Any:
    """A run that records which thread called it."""

    def run(batch: list[Any]) -> list[list[float]]:
        calls.append(threading.current_thread().name)
        return [[float(row)] for row in batch]

    return run


def test_a_batch_everyone_in_flight_joined_is_called_on_the_event_loop_others_on_a_model_thread() -> None:
    # Nothing is left for the loop to do while such a call runs; handing it to a thread costs two wake-ups.
    threads: list[str] = []
    in_flight = [1]
    batcher = Batcher(max_rows=256, timeout_seconds=0.01, in_flight=lambda: in_flight[0])

    async def scenario() -> None:
        run = _threads_of(threads)
        await batcher.submit("v1", run, [1.0])  # alone: complete
        in_flight[0] = 2  # another request in flight that never joins: the timer flushes to a thread
        await asyncio.wait_for(batcher.submit("v1", run, [2.0]), 60)

    _run(batcher, scenario())
    assert threads[0] == threading.current_thread().name
    assert threads[1].startswith("model")


def test_a_complete_batch_of_more_rows_than_the_loop_takes_goes_to_a_model_thread() -> None:
    threads: list[str] = []
    batcher = Batcher(max_rows=256, timeout_seconds=HOUR, in_flight=lambda: 1)
    rows = [float(i) for i in range(LOOP_CALL_MAX_ROWS + 1)]

    result = _run(batcher, asyncio.wait_for(batcher.submit("v1", _threads_of(threads), rows), 60))
    assert result == [[row] for row in rows]
    assert len(threads) == 1 and threads[0].startswith("model")


def test_an_error_of_a_call_on_the_event_loop_reaches_every_request_of_the_batch() -> None:
    def failing(batch: list[Any]) -> list[list[float]]:
        raise ValueError(f"{len(batch)} rows: not finite")

    batcher = Batcher(max_rows=256, timeout_seconds=HOUR, in_flight=lambda: 2)

    async def two() -> list[Any]:
        return list(
            await asyncio.gather(*(batcher.submit("v1", failing, [float(i)]) for i in range(2)), return_exceptions=True)
        )

    errors = _run(batcher, two())
    assert [str(e) for e in errors] == ["2 rows: not finite", "2 rows: not finite"]
