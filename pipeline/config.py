"""One typed, frozen run configuration, built once per run from defaults, a profile, env and flags.

Precedence, lowest first: the defaults below, the named profile in the profiles file
(pipeline/profiles.yaml unless --config names another), TAXI_PIPELINE_<FIELD> environment
variables, then explicit overrides (CLI flags).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from models import features

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROFILES_FILE = Path(__file__).resolve().parent / "profiles.yaml"
ENV_PREFIX = "TAXI_PIPELINE_"
PUSH_TARGETS = ("filesystem", "vertex")
_LABEL = re.compile(r"[a-z][a-z0-9_-]{0,62}=[a-z0-9_-]{0,63}")
_NETWORK = re.compile(r"projects/[^/\s]+/global/networks/[^/\s]+")
_SUBNETWORK = re.compile(r"regions/[^/\s]+/subnetworks/[^/\s]+")
_KMS_KEY = re.compile(r"projects/[^/\s]+/locations/[^/\s]+/keyRings/[^/\s]+/cryptoKeys/[^/\s]+")


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
    train_steps: int = 300
    eval_steps: int = 20
    batch_size: int = 256
    learning_rate: float = 0.003
    hidden_units: tuple[int, ...] = (64, 32)
    # Hyperparameter search (models/tuning.py) before training; its best values win over the three above.
    tune: bool = False
    tuner_trials: int = 10
    # No new trial starts once the search has run this long (a running one finishes).
    tuner_time_budget_s: int = 600
    # Training steps of each trial: enough to rank candidates, far fewer than the final training.
    tuner_trial_steps: int = 200
    # On Vertex (vertex_training): trials run this many at a time, each a Vertex AI job.
    tuner_parallel_trials: int = 1
    # Eval rows (a seeded sample) the permutation feature importance is computed on.
    importance_rows: int = 2000
    # Blessing: the candidate needs at least this eval binary accuracy ...
    min_binary_accuracy: float = 0.7
    # ... and may not fall below the baseline by more than this (absolute).
    max_accuracy_drop: float = 1e-10
    # ... and, when above 0, at least this accuracy in every slice of models/features.SLICE_FEATURES.
    min_slice_binary_accuracy: float = 0.0
    # ... and may not fall below the baseline by more than this on the eval splits of the window's earlier
    # spans alone, which a new span with bad labels cannot move; None: the same as max_accuracy_drop. Not
    # max_accuracy_drop by default: a candidate that also learnt a real new span is measurably (if slightly)
    # worse than the baseline on the old spans (README, "Data gates", has the numbers behind 0.02).
    trusted_max_accuracy_drop: float | None = 0.02
    # ... a drop there refuses only when a one-sided McNemar test on the rows the two models disagree on
    # gives a p-value below this (pipeline/trusted_set.py): a few rows either way on a small set is noise.
    trusted_significance: float = 0.01
    # Decay: the model serving now, scored on a newly arrived span before training, is marked decayed below
    # this accuracy, or more than decay_max_accuracy_drop below its own evaluation. Printed, never a stop.
    decay_min_binary_accuracy: float = 0.7
    decay_max_accuracy_drop: float = 0.05
    # The data gate in front of Transform. Anomaly types are TFDV's names (e.g. SCHEMA_NEW_COLUMN,
    # ENUM_TYPE_UNEXPECTED_STRING_VALUES); "*" stands for every type TFDV reports as an ERROR.
    blocking_anomalies: tuple[str, ...] = ("*",)
    # Anomaly types that are reported but do not stop the run; they win over blocking_anomalies.
    warning_anomalies: tuple[str, ...] = ()
    # A feature drifting from the previous span beyond its schema limit: "stop" the run or "warn".
    drift_action: str = "stop"
    # The label's relationship with these categorical features, against the previous accepted span: the
    # row-weighted mean change of the label rate within their categories may be at most label_shift_limit
    # (judged as drift, so drift_action applies). Empty checks nothing. See pipeline/validation/label_shift.py.
    label_shift_features: tuple[str, ...] = ("payment_type",)
    label_shift_limit: float = 0.15
    enable_cache: bool = True
    beam_args: tuple[str, ...] = ()
    verbose: bool = False

    # Google Cloud: read by `taxi-pipeline compile` and `submit` only; check_vertex() says which are required.
    gcp_project: str = ""
    region: str = "us-central1"
    # The pipeline image (see Dockerfile). Vertex steps, Dataflow workers and Vertex Training all run it,
    # so user code and library versions match everywhere; tag it immutably (the git SHA).
    image: str = ""
    # Runs the pipeline, its Dataflow jobs and training; empty means the project's default account.
    service_account: str = ""
    # key=value labels on the Vertex pipeline job (and the jobs, models and endpoints it creates).
    labels: tuple[str, ...] = ()
    # A VPC to peer the pipeline job, training jobs and endpoint with (projects/NUMBER/global/networks/NAME);
    # empty uses Google's network. Dataflow workers take dataflow_subnetwork (regions/R/subnetworks/S) and,
    # with dataflow_public_ips false, private IPs only.
    network: str = ""
    dataflow_subnetwork: str = ""
    dataflow_public_ips: bool = True
    # A Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) encrypting what the run creates:
    # the pipeline job, training jobs, Dataflow state, the model and the endpoint. Empty: Google-managed keys.
    encryption_key: str = ""
    # When set, ExampleGen reads the rows this BigQuery query returns instead of CSV span folders.
    bigquery_query: str = ""
    # Run the Beam components (ExampleGen, StatisticsGen, Transform, Evaluator) on Dataflow.
    dataflow: bool = False
    dataflow_machine_type: str = "n1-standard-4"
    dataflow_max_workers: int = 4
    # Train in a Vertex AI custom training job on its own machine instead of inside the pipeline step.
    vertex_training: bool = False
    training_machine_type: str = "n1-standard-8"
    training_accelerator_type: str = ""
    training_accelerator_count: int = 0
    # "filesystem": copy blessed models under serving_dir (a gs:// folder on Vertex);
    # "vertex": upload them as new versions of one Vertex Model Registry model named model_name.
    push_target: str = "filesystem"
    # With push_target vertex: deploy each new version to this endpoint (display name); empty uploads only.
    endpoint_name: str = ""
    # The new version's share of the endpoint's traffic; the versions already deployed keep the rest.
    traffic_percentage: int = 100
    serving_image: str = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
    serving_machine_type: str = "n1-standard-2"
    # Vertex AI Model Monitoring of that endpoint (pipeline/model_monitoring.py): thresholds come from the
    # schema's skew/drift limits; these say who hears of a breach, how much traffic is analysed, how often,
    # and which training data (a gs:// CSV file or bq://project.dataset.table) skew is measured against
    # (empty: drift only).
    monitoring_emails: tuple[str, ...] = ()
    monitoring_sample_rate: float = 0.8
    monitoring_interval_hours: int = 24
    monitoring_training_data: str = ""

    # `taxi-pipeline serve`: TF Serving's REST API over the versions in serving_dir. Loopback by
    # default: the server has no authentication, so exposing it is a deliberate choice.
    serve_host: str = "127.0.0.1"
    # 8501 is TF Serving's REST port, so clients written for one work with the other; 0 picks a free port.
    serve_port: int = 8501
    # Larger request bodies get HTTP 413 before they are read (a 1,000-row JSON batch is about 600 kB).
    serve_max_request_bytes: int = 4 * 1024 * 1024
    # Share of predict requests whose rows are appended to <home>/serving-logs/<model_name>/ for `skew`.
    serve_log_sampling: float = 0.1

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
        _require(
            0.0 <= self.min_slice_binary_accuracy <= 1.0,
            "min_slice_binary_accuracy",
            self.min_slice_binary_accuracy,
            "a number between 0 and 1",
        )
        _require(self.max_accuracy_drop >= 0, "max_accuracy_drop", self.max_accuracy_drop, "a number >= 0")
        _require(
            self.trusted_max_accuracy_drop is None or self.trusted_max_accuracy_drop >= 0,
            "trusted_max_accuracy_drop",
            self.trusted_max_accuracy_drop,
            "a number >= 0 (or unset: the same as max_accuracy_drop)",
        )
        _require(
            0 < self.trusted_significance <= 1, "trusted_significance", self.trusted_significance, "a number in (0, 1]"
        )
        _require(
            0 <= self.decay_min_binary_accuracy <= 1,
            "decay_min_binary_accuracy",
            self.decay_min_binary_accuracy,
            "a number between 0 and 1",
        )
        _require(
            self.decay_max_accuracy_drop >= 0, "decay_max_accuracy_drop", self.decay_max_accuracy_drop, "a number >= 0"
        )
        self._check_gate_policy()
        _require(self.span is None or self.span >= 0, "span", self.span, "an integer >= 0")
        _require(bool(self.hidden_units), "hidden_units", self.hidden_units, "at least one layer size")
        _require(all(u > 0 for u in self.hidden_units), "hidden_units", self.hidden_units, "positive sizes")
        for name in ("tuner_trials", "tuner_time_budget_s", "tuner_trial_steps", "tuner_parallel_trials"):
            _require(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        _require(self.importance_rows >= 10, "importance_rows", self.importance_rows, "an integer >= 10")
        _require(bool(self.pipeline_name.strip()), "pipeline_name", self.pipeline_name, "a non-empty name")
        _require(
            self.model_name.replace("_", "").replace("-", "").isalnum(),
            "model_name",
            self.model_name,
            "letters, digits, '-' and '_' only (it names a serving folder)",
        )
        self._check_cloud_values()
        _require(0 <= self.serve_port <= 65535, "serve_port", self.serve_port, "a TCP port 0-65535 (0: any free port)")
        _require(
            self.serve_max_request_bytes >= 1024,
            "serve_max_request_bytes",
            self.serve_max_request_bytes,
            "an integer >= 1024 (bytes)",
        )
        _require(
            0.0 <= self.serve_log_sampling <= 1.0,
            "serve_log_sampling",
            self.serve_log_sampling,
            "a number between 0 (log nothing) and 1 (log every request)",
        )

    def _check_gate_policy(self) -> None:
        """Checks the data gate's anomaly type names and drift action."""
        from pipeline.validation import ALL_ANOMALIES, ANOMALIES_REFERENCE, DRIFT_ACTIONS, check_anomaly_names

        for name in ("blocking_anomalies", "warning_anomalies"):
            unknown = check_anomaly_names(getattr(self, name))
            _require(
                not unknown,
                name,
                getattr(self, name),
                f"'*' or TFDV anomaly type names such as SCHEMA_NEW_COLUMN ({', '.join(unknown)} "
                f"{'is' if len(unknown) == 1 else 'are'} not one; see {ANOMALIES_REFERENCE})",
            )
        _require(
            ALL_ANOMALIES not in self.warning_anomalies,
            "warning_anomalies",
            self.warning_anomalies,
            "anomaly type names; to only warn about every anomaly, leave blocking_anomalies empty instead "
            f"(blocking_anomalies: [] in the profile, or {ENV_PREFIX}BLOCKING_ANOMALIES='')",
        )
        both = sorted(set(self.blocking_anomalies) & set(self.warning_anomalies))
        _require(
            not both,
            "warning_anomalies",
            self.warning_anomalies,
            f"types not also listed in blocking_anomalies ({', '.join(both)} is in both; keep it in one)",
        )
        categorical = sorted({*features.VOCAB_FEATURES, *features.CATEGORICAL_INT_FEATURES})
        unknown = [name for name in self.label_shift_features if name not in categorical]
        _require(
            not unknown,
            "label_shift_features",
            self.label_shift_features,
            f"categorical features ({', '.join(unknown)} is not one; choose from {', '.join(categorical)})",
        )
        _require(
            0.0 <= self.label_shift_limit <= 1.0,
            "label_shift_limit",
            self.label_shift_limit,
            "a number between 0 and 1 (a change of a rate)",
        )
        _require(
            self.drift_action in DRIFT_ACTIONS, "drift_action", self.drift_action, f"one of {', '.join(DRIFT_ACTIONS)}"
        )

    def _check_cloud_values(self) -> None:
        """Checks the Google Cloud fields' ranges and formats; whether they are all set is check_vertex's job."""
        _require(self.dataflow_max_workers >= 1, "dataflow_max_workers", self.dataflow_max_workers, "an integer >= 1")
        _require(
            self.training_accelerator_count >= 0,
            "training_accelerator_count",
            self.training_accelerator_count,
            "an integer >= 0",
        )
        _require(
            bool(self.training_accelerator_type) == (self.training_accelerator_count > 0),
            "training_accelerator_count",
            self.training_accelerator_count,
            "a count > 0 together with training_accelerator_type (e.g. NVIDIA_TESLA_T4), or 0 with no type "
            f"(training_accelerator_type is {self.training_accelerator_type!r})",
        )
        _require(self.push_target in PUSH_TARGETS, "push_target", self.push_target, f"one of {', '.join(PUSH_TARGETS)}")
        _require(0 <= self.traffic_percentage <= 100, "traffic_percentage", self.traffic_percentage, "an integer 0-100")
        _require(
            not self.network or _NETWORK.fullmatch(self.network) is not None,
            "network",
            self.network,
            "a VPC network's full name, projects/PROJECT_NUMBER/global/networks/NAME",
        )
        _require(
            not self.dataflow_subnetwork or _SUBNETWORK.fullmatch(self.dataflow_subnetwork) is not None,
            "dataflow_subnetwork",
            self.dataflow_subnetwork,
            "a subnetwork as Dataflow takes it, regions/REGION/subnetworks/NAME",
        )
        _require(
            not self.encryption_key or _KMS_KEY.fullmatch(self.encryption_key) is not None,
            "encryption_key",
            self.encryption_key,
            "a Cloud KMS key's full name, projects/P/locations/L/keyRings/R/cryptoKeys/K",
        )
        _require(
            0.0 < self.monitoring_sample_rate <= 1.0,
            "monitoring_sample_rate",
            self.monitoring_sample_rate,
            "0 < rate <= 1",
        )
        _require(
            self.monitoring_interval_hours >= 1,
            "monitoring_interval_hours",
            self.monitoring_interval_hours,
            "an integer >= 1 (Vertex monitors in whole hours)",
        )
        for email in self.monitoring_emails:
            _require(
                re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email) is not None,
                "monitoring_emails",
                self.monitoring_emails,
                f"email addresses; {email!r} is not one",
            )
        _require(
            not self.monitoring_training_data or self.monitoring_training_data.startswith(("gs://", "bq://")),
            "monitoring_training_data",
            self.monitoring_training_data,
            "a gs://...csv file or a bq://project.dataset.table, or empty for drift only",
        )
        for label in self.labels:
            _require(
                _LABEL.fullmatch(label) is not None,
                "labels",
                self.labels,
                "key=value items with lowercase letters, digits, '_' and '-' (keys start with a letter), "
                f"as Vertex requires; {label!r} is not one",
            )

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """What run_fn receives as custom_config["hyperparameters"]."""
        return {
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "hidden_units": list(self.hidden_units),
        }

    @property
    def temp_dir(self) -> str:
        """Scratch space for Dataflow (staging and temp files)."""
        return _join(self.home, "tmp")

    @property
    def label_map(self) -> dict[str, str]:
        """The labels as a mapping."""
        return dict(label.split("=", 1) for label in self.labels)

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
    def serving_logs_dir(self) -> str:
        """Sampled predict requests of `taxi-pipeline serve`, as TFRecord files of tf.Example that TFDV reads."""
        return _join(self.home, "serving-logs", self.model_name)

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


# What Vertex accepts: KubeflowV2DagRunner checks pipeline names, the Model Registry checks model ids.
_VERTEX_PIPELINE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
_VERTEX_MODEL_ID = re.compile(r"[a-z_][a-z0-9_-]{0,62}")
_PLACEHOLDER = "YOUR_BUCKET"


def _pinned_image(image: str) -> bool:
    """True for an image reference with a digest or a tag other than "latest"."""
    if not image or any(c.isspace() for c in image):
        return False
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.split(":", 1)[1] not in ("", "latest")


def check_vertex(config: PipelineConfig) -> None:
    """Checks that a configuration can be compiled for, and run on, Vertex AI Pipelines.

    Args:
        config: the configuration of a `compile` or `submit`.

    Raises:
        ConfigError: naming every missing or unsuitable field, what was expected and how to set it.
    """
    problems: list[str] = []

    def need(ok: bool, field: str, value: object, expected: str) -> None:
        if not ok:
            problems.append(
                f"config field '{field}' is {value!r}; expected {expected} "
                f"(set '{field}:' in the profile, or the environment variable {ENV_PREFIX}{field.upper()})"
            )

    need(bool(config.gcp_project.strip()), "gcp_project", config.gcp_project, "the Google Cloud project id to run in")
    need(
        _pinned_image(config.image),
        "image",
        config.image,
        "the pipeline image built from the Dockerfile, with an immutable tag such as the git SHA "
        "(REGION-docker.pkg.dev/PROJECT/REPOSITORY/taxi-pipeline:SHA); Vertex caches steps per image, "
        "so a reused tag like :latest can serve results of old code",
    )
    need(
        config.home.startswith("gs://") and _PLACEHOLDER not in config.home,
        "home",
        config.home,
        "a gs:// folder of your bucket: Vertex steps cannot see this machine's disk",
    )
    if config.bigquery_query:
        need(config.span is None, "span", config.span, "no span with bigquery_query: spans are CSV folders")
    else:
        need(
            config.data_root.startswith("gs://") and _PLACEHOLDER not in config.data_root,
            "data_root",
            config.data_root,
            "a gs:// folder holding span-<N>/ folders of CSV files (or set bigquery_query)",
        )
    need(
        _VERTEX_PIPELINE_NAME.fullmatch(config.pipeline_name) is not None,
        "pipeline_name",
        config.pipeline_name,
        "lowercase letters, digits and '-' (a Vertex pipeline name)",
    )
    if config.push_target == "vertex":
        need(
            _VERTEX_MODEL_ID.fullmatch(config.model_name) is not None,
            "model_name",
            config.model_name,
            "lowercase letters, digits, '_' and '-', not starting with a digit or '-' (a Model Registry id)",
        )
        need(bool(config.serving_image), "serving_image", config.serving_image, "a Vertex prediction image")
    if problems:
        raise ConfigError("cannot run on Vertex AI:\n  " + "\n  ".join(problems))


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
            number = float(str(value).strip())
        except ValueError:
            raise fail("a number") from None
        if not math.isfinite(number):
            raise fail("a finite number")
        return number
    if hint is str:
        # YAML reads an unquoted yes/no/on/off as a boolean: a string field never wants one.
        if isinstance(value, bool):
            raise fail("a string (quote it in YAML: an unquoted yes, no, on or off is read as true or false)")
        if not isinstance(value, (str, int, float)):
            raise fail("a string")
        if "\0" in str(value):
            raise fail("a string without NUL characters")
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
        # Only plain items: str() of a nested YAML list (aliases nest cheaply) can take exponential time.
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in items):
            raise fail(f"a flat list of {item_type.__name__}")
        try:
            return tuple(item_type(str(v).strip()) for v in items)
        except ValueError:
            raise fail(f"a list of {item_type.__name__}") from None
    raise fail(f"a value of type {hint}")  # pragma: no cover - every field type is handled above


def _one_line(text: str) -> str:
    """A multi-line library message (PyYAML points at the spot with several lines) as one line."""
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def read_profiles(path: str | Path) -> dict[str, dict[str, Any]]:
    """Reads a profiles file: a YAML mapping of profile name to field values.

    Raises:
        ConfigError: the file is missing, is not YAML, or names unknown fields.
    """
    path = Path(path)
    try:
        # utf-8-sig: a byte-order mark an editor saved is not part of the YAML.
        loaded = yaml.safe_load(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"profiles file {path} does not exist") from None
    except OSError as err:
        raise ConfigError(f"profiles file {path} cannot be read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"profiles file {path} is not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"profiles file {path} is not valid YAML: {_one_line(str(err))}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ConfigError(f"profiles file {path} nests collections too deeply to be a profiles file") from None
    except (ValueError, TypeError) as err:  # an explicit tag on a bad value, e.g. `!!int abc`, `!!timestamp 2024-13-01`
        raise ConfigError(f"profiles file {path} holds a value YAML cannot read: {err}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict) or not all(isinstance(v, dict) or v is None for v in loaded.values()):
        raise ConfigError(f"profiles file {path} must map profile names to mappings of fields")
    profiles = {str(k): dict(v or {}) for k, v in loaded.items()}
    for name, values in profiles.items():
        # str(): YAML keys may be numbers or null, which sort with no string.
        unknown = sorted({str(key) for key in values if key not in FIELDS and key != "profile"})
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
    default_profile: str = "local",
) -> PipelineConfig:
    """Builds the run's configuration.

    Args:
        profile: profile name; defaults to $TAXI_PIPELINE_PROFILE, then `default_profile`.
        profiles_file: YAML file of profiles; defaults to pipeline/profiles.yaml.
        overrides: field values from CLI flags; None values are ignored.
        environ: the environment to read TAXI_PIPELINE_* from; defaults to os.environ.
        default_profile: the profile used when neither `profile` nor $TAXI_PIPELINE_PROFILE names one.

    Returns:
        The frozen configuration.

    Raises:
        ConfigError: a value is unknown, malformed or out of range.
    """
    env = os.environ if environ is None else environ
    profile = profile or env.get(ENV_PREFIX + "PROFILE") or default_profile
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
    # Google's own variable (Cloud Shell and Cloud Build steps set it) names the project when nothing else does.
    if not values.get("gcp_project") and env.get("GOOGLE_CLOUD_PROJECT", "").strip():
        values["gcp_project"] = env["GOOGLE_CLOUD_PROJECT"].strip()
    for name, value in (overrides or {}).items():
        if name not in FIELDS:
            raise ConfigError(f"unknown config field '{name}'; known fields: {', '.join(sorted(FIELDS))}")
        if value is not None:
            values[name] = _coerce(name, value, f"option --{name.replace('_', '-')}")
    return PipelineConfig(**values)
