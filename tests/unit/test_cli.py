"""The command line's contract for mistakes: one clear line on stderr, a documented exit code, no traceback."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from runners.home.progress import ProgressHandler
from runners.reports.console import format_summary
from runners.store.summary import RunSummary

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runners", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )


def test_help_lists_the_run_command_and_exit_codes() -> None:
    result = _cli("run", "--help")
    assert result.returncode == 0
    for flag in ("--home", "--data-root", "--span", "--train-steps", "--verbose"):
        assert flag in result.stdout
    assert "exit codes:" in result.stdout


def test_bad_flag_value_is_a_configuration_error(tmp_path: Path) -> None:
    result = _cli("run", "--home", str(tmp_path), "--window-spans", "0")
    assert result.returncode == 2
    assert "configuration error" in result.stderr and "window_spans" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "TAXI_PIPELINE_TRAIN_STEPS": "lots"}
    result = _cli("run", "--home", str(tmp_path), env=env)
    assert result.returncode == 2
    assert "TAXI_PIPELINE_TRAIN_STEPS" in result.stderr


def test_missing_data_root_stops_with_the_input_exit_code(tmp_path: Path) -> None:
    result = _cli("run", "--home", str(tmp_path / "home"), "--data-root", str(tmp_path / "nowhere"))
    assert result.returncode == 3
    assert f"data root {tmp_path / 'nowhere'} does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_span_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "data" / "span-1").mkdir(parents=True)
    result = _cli("run", "--home", str(tmp_path / "home"), "--data-root", str(tmp_path / "data"), "--span", "7")
    assert result.returncode == 2
    assert "span 7 is not in the data root (spans there: 1)" in result.stderr


def test_progress_lines_show_state_and_duration() -> None:
    out = io.StringIO()
    handler = ProgressHandler(out, state_of=lambda node: "cached")
    logger = logging.getLogger("test-progress")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.info("Component %s is running.", "transform")
    logger.info("Component %s is finished.", "transform")
    logger.info("something else entirely")
    lines = out.getvalue().splitlines()
    assert lines[0].strip() == "▶ transform ..."
    assert lines[1].split()[:3] == ["✔", "transform", "cached"]
    assert lines[1].endswith("s")
    assert len(lines) == 2
    assert handler.current is None


def test_summary_explains_a_refused_blessing() -> None:
    summary = RunSummary(
        run_id="r1",
        span=3,
        rows={"train": 20, "eval": 10},
        window_spans=[2, 3],
        window_rows=60,
        metrics={"binary_accuracy": 0.61, "auc": 0.7},
        blessed=False,
        blessing_reasons=["overall: binary_accuracy = 0.6100, below the required 0.7000"],
    )
    text = format_summary(summary)
    assert "span ingested : 3 (30 rows: train 20, eval 10)" in text
    assert "training on   : spans 2,3 (60 rows in all)" in text
    assert "binary_accuracy=0.6100" in text
    assert "blessed       : NO" in text and "below the required 0.7000" in text
    assert "pushed        : nothing (the model was not blessed)" in text
    assert "to ship it anyway, relax the threshold it failed (--min-accuracy" in text


def test_run_tune_flag_switches_tuning_on_only_when_given() -> None:
    from runners.cli import build_parser, config_from_args

    assert config_from_args(build_parser().parse_args(["run", "--tune"])).tune is True
    assert config_from_args(build_parser().parse_args(["run"])).tune is False


def test_building_the_parser_loads_no_tensorflow() -> None:
    # A run silences TensorFlow's start-up logs only after parsing; a subcommand module importing it
    # at the top would print them on the console.
    code = "import sys; from runners.cli import build_parser; build_parser(); print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False"


def test_quiet_libraries_silences_library_warnings_only_for_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import warnings

    from runners.quiet import quiet_libraries

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    absl = logging.getLogger("absl")
    absl_level = absl.level
    absl.setLevel(logging.INFO)
    try:
        before = (logging.getLogger().level, logging.getLogger("tensorflow").level, list(warnings.filters))
        mine = logging.getLogger("test-quiet-mine")
        mine.setLevel(logging.INFO)
        with quiet_libraries():
            assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
            assert not absl.isEnabledFor(logging.WARNING) and absl.isEnabledFor(logging.ERROR)
            assert not logging.getLogger("tensorflow").isEnabledFor(logging.WARNING)
            assert not logging.getLogger("tensorflow_model_analysis.writers").isEnabledFor(logging.WARNING)
            # A logger with a level of its own, and the process-wide switch, are left alone (unlike logging.disable).
            assert mine.isEnabledFor(logging.INFO) and logging.root.manager.disable == logging.NOTSET
        assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
        assert absl.level == logging.INFO
        assert (logging.getLogger().level, logging.getLogger("tensorflow").level, list(warnings.filters)) == before
    finally:
        absl.setLevel(absl_level)


def test_quiet_libraries_keeps_the_users_tensorflow_log_level(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from runners.quiet import quiet_libraries

    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    with quiet_libraries():
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
