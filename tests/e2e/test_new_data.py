"""A span with bad labels let through the data gate: the trusted set (the earlier spans) refuses its model.

A first run pushes a baseline on span 1; span 2 arrives with its (tips, fare) pairs scrambled across
rows, the label check switched off so it reaches training, and TFMA's own change threshold relaxed so
the window's eval split (scrambled rows included) lets the candidate through. On span 1's eval rows
alone the candidate is worse than the baseline: the Evaluator withdraws the blessing.

Measured on this fixture (118 eval rows): the change was -0.025 and -0.017 in two runs, against +0.025
with the real span 2; a margin of two or three rows past the 0.01 threshold, so a change to the model
or the fixture can flip it. With a 300-step baseline (it overfits span 1) the candidate came out ahead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.trusted_set import TRUSTED_FILE
from tests.e2e.conftest import SMALL_DATA, CliResult, make_data_root, run_cli, run_pipeline
from tests.e2e.test_label_shift import write_scrambled_span

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL_NAME = "taxi_big_tipper"
TRUSTED_DROP = 0.01


@dataclass
class Refused:
    home: Path
    baseline: dict[str, Any]
    result: CliResult
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Refused]:
    base = tmp_path_factory.mktemp("trusted-set")
    data_root = make_data_root(base)
    home = base / "home"
    baseline = json.loads(run_pipeline(home, data_root, "--json").stdout)
    assert baseline["blessed"] and baseline["pushed"], "span 1 must train and push a baseline"
    write_scrambled_span(SMALL_DATA / "span-2", data_root / "span-2")
    result = run_cli(
        "run",
        "--home",
        str(home),
        "--data-root",
        str(data_root),
        "--json",
        # Enough steps that the models are not noise.
        "--train-steps",
        "300",
        "--min-accuracy",
        "0.0",
        env={
            "TAXI_PIPELINE_LABEL_SHIFT_LIMIT": "1.0",
            "TAXI_PIPELINE_MAX_ACCURACY_DROP": "1.0",
            "TAXI_PIPELINE_TRUSTED_MAX_ACCURACY_DROP": str(TRUSTED_DROP),
        },
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr[-5000:]}"
    yield Refused(home, baseline, result, json.loads(result.stdout))


def _versions(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "serving" / MODEL_NAME).iterdir() if p.name.isdigit())


def test_the_candidate_is_not_blessed_and_nothing_is_pushed(refused: Refused) -> None:
    summary = refused.summary
    assert summary["window_spans"] == [1, 2]
    assert summary["blessed"] is False
    assert summary["pushed"] is False and summary["pushed_version"] is None
    assert _versions(refused.home) == [refused.baseline["pushed_version"]]
    assert "blessed       : NO" in refused.result.stderr


def test_the_reason_is_the_trusted_set_with_the_numbers_of_trusted_json(refused: Refused) -> None:
    trusted = json.loads((Path(refused.summary["evaluation_uri"]) / TRUSTED_FILE).read_text())
    print("trusted.json:", trusted)
    assert trusted["spans"] == [1] and trusted["rows"] > 0
    assert trusted["max_drop"] == TRUSTED_DROP and trusted["passed"] is False
    assert trusted["change"] == pytest.approx(trusted["candidate"] - trusted["baseline"])
    assert trusted["change"] < -TRUSTED_DROP
    # TFMA passed on the whole window: the trusted set is the only reason.
    (reason,) = refused.summary["blessing_reasons"]
    found = re.fullmatch(
        r"earlier span 1 \((\d+) rows\): binary_accuracy \(change vs baseline\) = (-\d\.\d{4}), "
        r"beyond the allowed change -0\.01 \(the new span may have bad labels\)",
        reason,
    )
    assert found, reason
    assert int(found.group(1)) == trusted["rows"]
    assert float(found.group(2)) == pytest.approx(trusted["change"], abs=1e-4)
