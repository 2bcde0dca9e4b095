"""The run's progress lines inside long steps: a still-running line after 10 s, then one every 20 s."""

from __future__ import annotations

import io
import logging
import time

from runners.home.progress import ProgressHandler


def test_a_long_step_gets_a_still_running_line_after_10_s_then_every_20_s() -> None:
    out = io.StringIO()
    now = [100.0]
    handler = ProgressHandler(
        out, state_of=lambda node: "executed", previous_seconds=lambda node: 49.4, clock=lambda: now[0]
    )
    logger = logging.getLogger("test-heartbeat")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    assert handler.heartbeat() is None  # no step running yet
    logger.info("Component %s is running.", "transform")
    beats = []
    for second in range(1, 61):  # what the heartbeat thread does once a second, for a 60 s step
        now[0] = 100.0 + second
        if handler.heartbeat():
            beats.append(second)
    assert beats == [10, 30, 50]
    logger.info("Component %s is finished.", "transform")
    now[0] += 30
    assert handler.heartbeat() is None  # nothing after the step finished
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["▶", "…", "…", "…", "✔"]
    assert lines[1].strip() == "… transform still running, 10s so far, 49s last time"
    assert lines[3].strip() == "… transform still running, 50s so far, 49s last time"
    # A quick step, and a step that never ran before, say only what they know.
    logger.info("Component %s is running.", "trainer")
    now[0] += 5
    assert handler.heartbeat() is None
    handler.previous_seconds = None
    logger.info("Component %s is running.", "evaluator")
    now[0] += 10
    assert handler.heartbeat() == "  … evaluator still running, 10s so far\n"


def test_the_heartbeat_thread_writes_to_the_progress_stream_and_stops() -> None:
    out = io.StringIO()
    now = [0.0]
    handler = ProgressHandler(out, state_of=lambda node: "executed", clock=lambda: now[0])
    handler.emit(logging.LogRecord("absl", logging.INFO, "", 0, "Component %s is running.", ("evaluator",), None))
    now[0] = 11.0
    handler.start_heartbeat(every=0.01)
    for _ in range(500):
        if "still running" in out.getvalue():
            break
        time.sleep(0.01)
    handler.stop_heartbeat()
    assert out.getvalue().splitlines()[1].strip() == "… evaluator still running, 11s so far"
    assert handler._thread is None
