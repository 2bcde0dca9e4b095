"""The unchanged-rerun fast path: decides "nothing changed since the last run" before TensorFlow is imported.

After each successful run the CLI records a manifest in the home: a fingerprint of every input the
run depended on and the run's summary. A later run whose fingerprint matches prints that summary and
stops, in about a second instead of the tens of seconds LocalDagRunner needs to import TFX and find
every component in its cache. Any difference, or --no-cache, takes the normal path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

from pipeline.config import PROJECT_ROOT, PipelineConfig
from runners.files import write_atomically

MANIFEST_NAME = "last_run.json"
MANIFEST_VERSION = 1
# The code a run executes: a change to any of it must run the pipeline again.
CODE_PACKAGES = ("models", "pipeline", "runners")
# Libraries whose upgrade can change a result with the same code and data.
LIBRARIES = ("tfx", "tensorflow", "tensorflow-transform", "tensorflow-model-analysis", "apache-beam")
# Console-only settings: they change what is printed, not what is computed.
CONSOLE_FIELDS = ("verbose",)


def manifest_path(config: PipelineConfig) -> Path:
    """Where the last successful run's manifest lives."""
    return Path(config.home) / MANIFEST_NAME


def source_digest(root: Path = PROJECT_ROOT, packages: tuple[str, ...] = CODE_PACKAGES) -> str:
    """Digest of every Python file of the given packages."""
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def code_fingerprint(root: Path = PROJECT_ROOT) -> str:
    """Digest of the model code, so editing it re-runs Transform and Trainer instead of hitting the cache."""
    return source_digest(root, ("models",))


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _data_files(data_root: Path) -> list[dict[str, Any]]:
    """Every file under the data root, with its size, modification time and content digest.

    The modification time is part of it because CsvExampleGen's own cache key is: a touched file is
    re-ingested by the pipeline, so the fast path must not claim otherwise.
    """
    files = []
    for path in sorted(p for p in data_root.rglob("*") if p.is_file()):
        try:
            stat = path.stat()
            entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": _file_digest(path)}
        except OSError as err:
            # Never a match: the normal path's pre-flight check then names the file and what to do.
            entry = {"unreadable": f"{type(err).__name__} at {time.time()}"}
        files.append({"path": str(path.relative_to(data_root)), **entry})
    return files


def _library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            versions[name] = ""
    return versions


def _home_state(config: PipelineConfig) -> dict[str, Any]:
    """What another command can change in the home: ML Metadata and the serving dir (a rollback, a push)."""
    metadata = Path(config.metadata_path)
    serving = Path(config.serving_dir)
    stat = metadata.stat() if metadata.is_file() else None
    return {
        "metadata": [stat.st_size, stat.st_mtime_ns] if stat else None,
        "serving_versions": sorted(p.name for p in serving.iterdir()) if serving.is_dir() else [],
    }


def fingerprint(config: PipelineConfig) -> dict[str, Any]:
    """Everything a local run's result depends on, as plain JSON values.

    Args:
        config: the run's configuration.

    Returns:
        The data files, the schema's digest, the code's digest, library versions and the
        configuration (console-only fields left out).
    """
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in CONSOLE_FIELDS}
    schema = Path(config.schema_path)
    data_root = Path(config.data_root).resolve()
    return {
        "version": MANIFEST_VERSION,
        "data_root": str(data_root),
        "data_files": _data_files(data_root) if data_root.is_dir() else [],
        "schema_sha256": _file_digest(schema) if schema.is_file() else "",
        "code": source_digest(),
        "libraries": _library_versions(),
        "config": json.loads(json.dumps(settings, default=str)),
    }


def record(config: PipelineConfig, inputs: dict[str, Any], summary: dict[str, Any], text: str) -> None:
    """Writes the manifest of a run that succeeded.

    Args:
        config: the run's configuration.
        inputs: `fingerprint(config)` taken before the run started, so an input edited during the
            run makes the next run take the normal path.
        summary: the run's summary as JSON values (RunSummary.to_dict()).
        text: the summary as the console showed it.
    """
    manifest = {
        "inputs": inputs,
        "home_state": _home_state(config),
        "run_id": summary.get("run_id", ""),
        "summary": summary,
        "summary_text": text,
    }
    write_atomically(manifest_path(config), json.dumps(manifest, indent=1, default=str))


def forget(config: PipelineConfig) -> None:
    """Removes the manifest, so the next run takes the normal path.

    A manifest that cannot be removed is harmless: the run that follows changes ML Metadata, which
    the manifest records, so it can no longer match.
    """
    with contextlib.suppress(OSError):
        manifest_path(config).unlink(missing_ok=True)


@dataclasses.dataclass(frozen=True)
class Unchanged:
    """The previous run that this one would repeat exactly."""

    run_id: str
    summary: dict[str, Any]
    summary_text: str


def unchanged_since_last_run(config: PipelineConfig, inputs: dict[str, Any]) -> Unchanged | None:
    """Returns the last run when it had exactly these inputs and the home is as it left it; None otherwise.

    Args:
        config: this run's configuration.
        inputs: `fingerprint(config)` of this run.
    """
    if not config.enable_cache:
        return None
    try:
        manifest = json.loads(manifest_path(config).read_text())
    except (OSError, ValueError, RecursionError):  # RecursionError: deeply nested JSON, not a manifest of ours
        return None
    if not isinstance(manifest, dict) or manifest.get("inputs") != inputs:
        return None
    if manifest.get("home_state") != _home_state(config):
        return None
    summary = manifest.get("summary") or {}
    if not isinstance(summary, dict):  # edited by hand or damaged: take the normal path, which rewrites it
        return None
    pushed_path = summary.get("pushed_path")
    # The model the summary names must still be there to serve.
    if summary.get("pushed") and not (
        isinstance(pushed_path, str) and pushed_path and (Path(pushed_path) / "saved_model.pb").is_file()
    ):
        return None
    return Unchanged(str(manifest.get("run_id", "")), summary, str(manifest.get("summary_text", "")))


def describe(unchanged: Unchanged, config: PipelineConfig) -> str:
    """The console lines of a run that took the fast path."""
    return (
        f"taxi-pipeline: home {Path(config.home).resolve()}\n"
        f"Nothing changed since run {unchanged.run_id}: the same data files (size, time and content), schema, "
        "code, library versions and configuration, and the home is as that run left it; nothing to do.\n"
        "  (--no-cache, or any change, runs the pipeline again; its components then report their own cache hits)\n"
        f"{unchanged.summary_text}\n"
    )
