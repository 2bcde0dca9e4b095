"""One typed, frozen run configuration, built once per run from defaults, a profile, env and flags.

Precedence, lowest first: the defaults below, the named profile in the profiles file
(pipeline/profiles.yaml unless --config names another), TAXI_PIPELINE_<FIELD> environment
variables, then explicit overrides (CLI flags).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROFILES_FILE = Path(__file__).resolve().parent / "profiles.yaml"
ENV_PREFIX = "TAXI_PIPELINE_"


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message says where it came from."""


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Everything a run needs. Paths may be local folders or gs:// URIs (vertex profile)."""

    profile: str = "local"
    pipeline_name: str = "taxi"
    model_name: str = "taxi_big_tipper"
    # All outputs (pipeline root, metadata, serving dir, logs, reports) live under home.
    home: str = "outputs"
    data_root: str = str(PROJECT_ROOT / "data" / "taxi")
    schema_path: str = str(PROJECT_ROOT / "schema" / "schema.pbtxt")
    # Span to ingest; None means the newest span folder under data_root.
    span: int | None = None
    # How many of the most recent spans the Trainer sees.
    window_spans: int = 4
    train_steps: int = 2000
    eval_steps: int = 200
    batch_size: int = 128
    learning_rate: float = 0.003
    hidden_units: tuple[int, ...] = (64, 32)
    # Blessing: the candidate needs at least this eval binary accuracy ...
    min_binary_accuracy: float = 0.7
    # ... and may not fall below the baseline by more than this (absolute).
    max_accuracy_drop: float = 1e-10
    enable_cache: bool = True
    beam_args: tuple[str, ...] = ()
    verbose: bool = False

    def __post_init__(self) -> None:
        _require(self.window_spans >= 1, "window_spans", self.window_spans, "an integer >= 1")
        _require(self.train_steps >= 1, "train_steps", self.train_steps, "an integer >= 1")
        _require(self.eval_steps >= 1, "eval_steps", self.eval_steps, "an integer >= 1")
        _require(self.batch_size >= 1, "batch_size", self.batch_size, "an integer >= 1")
        _require(self.learning_rate > 0, "learning_rate", self.learning_rate, "a number > 0")
        _require(
            0.0 <= self.min_binary_accuracy <= 1.0,
            "min_binary_accuracy",
            self.min_binary_accuracy,
            "a number between 0 and 1",
        )
        _require(self.max_accuracy_drop >= 0, "max_accuracy_drop", self.max_accuracy_drop, "a number >= 0")
        _require(self.span is None or self.span >= 0, "span", self.span, "an integer >= 0")
        _require(bool(self.hidden_units), "hidden_units", self.hidden_units, "at least one layer size")
        _require(all(u > 0 for u in self.hidden_units), "hidden_units", self.hidden_units, "positive sizes")
        _require(bool(self.pipeline_name.strip()), "pipeline_name", self.pipeline_name, "a non-empty name")
        _require(
            self.model_name.replace("_", "").replace("-", "").isalnum(),
            "model_name",
            self.model_name,
            "letters, digits, '-' and '_' only (it names a serving folder)",
        )

    @property
    def pipeline_root(self) -> str:
        """Where TFX writes artifacts."""
        return _join(self.home, "pipeline_root")

    @property
    def metadata_path(self) -> str:
        """The ML Metadata SQLite file of local runs."""
        return _join(self.home, "metadata.db")

    @property
    def serving_dir(self) -> str:
        """The Pusher's destination: one integer-named version folder per push (TF Serving layout)."""
        return _join(self.home, "serving", self.model_name)

    @property
    def logs_dir(self) -> str:
        """Full logs of every run, whatever the console showed."""
        return _join(self.home, "logs")

    @property
    def reports_dir(self) -> str:
        """Run reports and other human-facing outputs."""
        return _join(self.home, "reports")


def _join(base: str, *parts: str) -> str:
    if "://" in base:
        return "/".join([base.rstrip("/"), *parts])
    return str(Path(base).joinpath(*parts))


def _require(ok: bool, field: str, value: object, expected: str) -> None:
    if not ok:
        raise ConfigError(f"config field '{field}' is {value!r}; expected {expected}")


FIELDS: dict[str, Any] = {f.name: f for f in dataclasses.fields(PipelineConfig)}


def _field_type(name: str) -> Any:
    return typing.get_type_hints(PipelineConfig)[name]


def _coerce(name: str, value: Any, source: str) -> Any:
    """Converts a value from YAML, the environment or a flag to the field's declared type."""
    hint = _field_type(name)
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0]

    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{source}: '{name}' is {value!r}; expected {expected}")

    if value is None or (optional and isinstance(value, str) and value.strip().lower() in ("", "none")):
        if optional:
            return None
        raise fail(f"a value of type {getattr(hint, '__name__', hint)}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise fail("true or false")
    if hint is int:
        if isinstance(value, bool):
            raise fail("an integer")
        try:
            return int(str(value).strip())
        except ValueError:
            raise fail("an integer") from None
    if hint is float:
        if isinstance(value, bool):
            raise fail("a number")
        try:
            return float(str(value).strip())
        except ValueError:
            raise fail("a number") from None
    if hint is str:
        if not isinstance(value, (str, int, float)):
            raise fail("a string")
        return str(value)
    if typing.get_origin(hint) is tuple:
        item_type = typing.get_args(hint)[0]
        items: list[Any]
        if isinstance(value, str):
            items = [v for v in (value.split(",") if item_type is int else value.split()) if v.strip()]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise fail("a list")
        try:
            return tuple(item_type(str(v).strip()) for v in items)
        except ValueError:
            raise fail(f"a list of {item_type.__name__}") from None
    raise fail(f"a value of type {hint}")  # pragma: no cover - every field type is handled above


def read_profiles(path: str | Path) -> dict[str, dict[str, Any]]:
    """Reads a profiles file: a YAML mapping of profile name to field values.

    Raises:
        ConfigError: the file is missing, is not YAML, or names unknown fields.
    """
    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"profiles file {path} does not exist") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"profiles file {path} is not valid YAML: {err}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict) or not all(isinstance(v, dict) or v is None for v in loaded.values()):
        raise ConfigError(f"profiles file {path} must map profile names to mappings of fields")
    profiles = {str(k): dict(v or {}) for k, v in loaded.items()}
    for name, values in profiles.items():
        unknown = sorted(set(values) - set(FIELDS) - {"profile"})
        if unknown:
            raise ConfigError(
                f"profiles file {path}, profile '{name}': unknown field(s) {', '.join(unknown)}; "
                f"known fields: {', '.join(sorted(FIELDS))}"
            )
    return profiles


def load_config(
    profile: str | None = None,
    profiles_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> PipelineConfig:
    """Builds the run's configuration.

    Args:
        profile: profile name; defaults to $TAXI_PIPELINE_PROFILE, then "local".
        profiles_file: YAML file of profiles; defaults to pipeline/profiles.yaml.
        overrides: field values from CLI flags; None values are ignored.
        environ: the environment to read TAXI_PIPELINE_* from; defaults to os.environ.

    Returns:
        The frozen configuration.

    Raises:
        ConfigError: a value is unknown, malformed or out of range.
    """
    env = os.environ if environ is None else environ
    profile = profile or env.get(ENV_PREFIX + "PROFILE") or "local"
    profiles_path = Path(profiles_file) if profiles_file else DEFAULT_PROFILES_FILE
    profiles = read_profiles(profiles_path)
    if profile not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(f"profile '{profile}' is not in {profiles_path} (profiles there: {known})")

    values: dict[str, Any] = {"profile": profile}
    for name, value in profiles[profile].items():
        values[name] = _coerce(name, value, f"{profiles_path} profile '{profile}'")
    for name in FIELDS:
        env_name = ENV_PREFIX + name.upper()
        if name != "profile" and env_name in env:
            values[name] = _coerce(name, env[env_name], f"environment variable {env_name}")
    for name, value in (overrides or {}).items():
        if name not in FIELDS:
            raise ConfigError(f"unknown config field '{name}'; known fields: {', '.join(sorted(FIELDS))}")
        if value is not None:
            values[name] = _coerce(name, value, f"option --{name.replace('_', '-')}")
    return PipelineConfig(**values)
