"""Config parsing: precedence of defaults, profile, environment and flags, and its error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import ConfigError, PipelineConfig, load_config


def _profiles(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profiles.yaml"
    path.write_text(text)
    return path


def test_local_profile_loads_with_defaults() -> None:
    config = load_config(profile="local", environ={})
    assert config.profile == "local"
    assert config.home == "outputs"
    assert Path(config.data_root).name == "taxi"
    assert Path(config.schema_path).is_file()
    # The local runner chooses the DirectRunner mode by input size (runners.local.beam_args_for).
    assert not any(arg.startswith("--direct_running_mode") for arg in config.beam_args)


def test_precedence_is_profile_then_env_then_flags(tmp_path: Path) -> None:
    profiles = _profiles(tmp_path, "p:\n  train_steps: 10\n  window_spans: 2\n  hidden_units: [8, 4]\n")
    env = {"TAXI_PIPELINE_TRAIN_STEPS": "20", "TAXI_PIPELINE_HOME": "/tmp/h"}
    config = load_config("p", profiles, overrides={"train_steps": 30, "span": None}, environ=env)
    assert config.train_steps == 30
    assert config.window_spans == 2
    assert config.home == "/tmp/h"
    assert config.hidden_units == (8, 4)
    assert config.span is None


def test_env_selects_profile_and_parses_types(tmp_path: Path) -> None:
    profiles = _profiles(tmp_path, "a: {}\nb:\n  enable_cache: false\n")
    env = {"TAXI_PIPELINE_PROFILE": "b", "TAXI_PIPELINE_HIDDEN_UNITS": "16,8", "TAXI_PIPELINE_SPAN": "3"}
    config = load_config(None, profiles, environ=env)
    assert config.profile == "b"
    assert config.enable_cache is False
    assert config.hidden_units == (16, 8)
    assert config.span == 3


def test_config_is_frozen() -> None:
    config = PipelineConfig()
    with pytest.raises(AttributeError):
        config.train_steps = 5  # type: ignore[misc]


def test_derived_paths_live_under_home() -> None:
    config = PipelineConfig(home="/srv/taxi")
    for path in (config.pipeline_root, config.metadata_path, config.serving_dir, config.logs_dir, config.reports_dir):
        assert path.startswith("/srv/taxi/")
    assert PipelineConfig(home="gs://b/x").serving_dir == "gs://b/x/serving/taxi_big_tipper"


def test_unknown_profile_names_the_file_and_the_choices(tmp_path: Path) -> None:
    profiles = _profiles(tmp_path, "local: {}\n")
    with pytest.raises(ConfigError, match=r"profile 'prod' is not in .*profiles.yaml \(profiles there: local\)"):
        load_config("prod", profiles, environ={})


def test_unknown_field_in_profile_is_named(tmp_path: Path) -> None:
    profiles = _profiles(tmp_path, "local:\n  train_stepz: 3\n")
    with pytest.raises(ConfigError, match=r"unknown field.*train_stepz"):
        load_config("local", profiles, environ={})


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"TAXI_PIPELINE_TRAIN_STEPS.*'many'.*an integer"):
        load_config("local", environ={"TAXI_PIPELINE_TRAIN_STEPS": "many"})


def test_out_of_range_value_is_rejected() -> None:
    with pytest.raises(ConfigError, match="'window_spans' is 0; expected an integer >= 1"):
        load_config("local", overrides={"window_spans": 0}, environ={})
    with pytest.raises(ConfigError, match="min_binary_accuracy"):
        load_config("local", overrides={"min_binary_accuracy": 1.5}, environ={})


def test_the_trusted_set_thresholds_have_measured_defaults_and_are_checked() -> None:
    defaults = load_config("local", environ={})
    assert (defaults.trusted_max_accuracy_drop, defaults.trusted_significance) == (0.02, 0.01)
    with pytest.raises(ConfigError, match=r"'trusted_significance' is 0\.0; expected a number in \(0, 1\]"):
        load_config("local", overrides={"trusted_significance": 0.0}, environ={})
    set_by_env = load_config("local", environ={"TAXI_PIPELINE_TRUSTED_MAX_ACCURACY_DROP": "0.01"})
    assert set_by_env.trusted_max_accuracy_drop == 0.01
    with pytest.raises(ConfigError, match=r"'trusted_max_accuracy_drop' is -0\.1; expected a number >= 0"):
        load_config("local", overrides={"trusted_max_accuracy_drop": -0.1}, environ={})


def test_bad_yaml_and_missing_file_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config("local", _profiles(tmp_path, "local: [\n"), environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("local", tmp_path / "missing.yaml", environ={})


def test_tuning_is_off_by_default_and_switched_on_by_env_or_flag(tmp_path: Path) -> None:
    assert load_config("local", environ={}).tune is False
    env = {"TAXI_PIPELINE_TUNE": "true", "TAXI_PIPELINE_TUNER_TRIALS": "3", "TAXI_PIPELINE_TUNER_TIME_BUDGET_S": "90"}
    config = load_config("local", environ=env)
    assert (config.tune, config.tuner_trials, config.tuner_time_budget_s) == (True, 3, 90)
    assert load_config("local", overrides={"tune": True}, environ={}).tune is True


def test_tuner_trials_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="'tuner_trials' is 0; expected an integer >= 1"):
        load_config("local", overrides={"tuner_trials": 0}, environ={})
