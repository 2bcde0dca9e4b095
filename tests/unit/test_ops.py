"""The operations commands' output and errors: tables, JSON and exit codes, on fabricated homes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runners import text as console_text
from runners.cli import main
from runners.commands import ops
from runners.store import lineage as ln
from tests.unit.fake_home import FakeHome

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sqlite_home(tmp_path: Path) -> FakeHome:
    home = FakeHome(tmp_path, sqlite=True)
    home.run("run-1", span=1, version=100)
    home.run("run-2", span=2, version=200)
    return home


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _fits(text: str, home: Path) -> bool:
    # An absolute path is as long as the user made it; everything else must fit.
    return all(len(line.replace(str(home), "<home>")) <= console_text.WIDTH for line in text.splitlines())


def test_render_table_aligns_columns_under_their_headers() -> None:
    table = console_text.render_table(["NAME", "N"], [["a", "1"], ["longer", "100"]], right=(1,))
    assert table.splitlines() == ["NAME      N", "a         1", "longer  100"]


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "-"), (4.4, "4s"), (187, "3m07s"), (7500, "2h05m"), (3 * 86400 + 3600, "3d01h")]
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert console_text.format_duration(seconds) == text


def test_format_spans_compacts_ranges() -> None:
    assert [console_text.format_spans(s) for s in ([], [2], [2, 1], [1, 2, 3, 4], [1, 3, 4])] == [
        "-",
        "2",
        "1,2",
        "1-4",
        "1,3,4",
    ]


def test_runs_table_fits_a_terminal_and_explains_its_letters(
    sqlite_home: FakeHome, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, "runs", "--home", str(sqlite_home.root))
    assert code == 0 and _fits(out, sqlite_home.root)
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("RUN ID"))
    assert header.split() == ["RUN", "ID", "STARTED", "(UTC)", "SPANS", "STATUS", "TIME", "COMPONENTS", "PUSHED"]
    run_2 = next(line for line in lines if line.startswith("run-2"))
    assert run_2.split()[3:5] == ["1,2", "complete"] and run_2.endswith("200")
    assert "EE.EEEE" in run_2  # the schema was imported once, by run-1
    assert "E executed, c cached" in out


def test_runs_json_is_one_document_on_stdout(sqlite_home: FakeHome, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "runs", "--home", str(sqlite_home.root), "--json")
    assert code == 0 and err == ""
    runs = json.loads(out)["runs"]
    assert [(r["run_id"], r["pushed_version"], r["window_spans"]) for r in runs] == [
        ("run-1", 100, [1]),
        ("run-2", 200, [1, 2]),
    ]
    assert runs[0]["components"]["trainer"] == "executed" and runs[0]["duration_s"] >= 0


def test_lineage_defaults_to_the_serving_version(sqlite_home: FakeHome, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "lineage", "--home", str(sqlite_home.root), "--json")
    document = json.loads(out)
    assert code == 0 and document["version"] == 200 and document["serving"] is True
    assert [e["span"] for e in document["examples"]] == [1, 2]

    code, out, _ = _cli(capsys, "lineage", "--home", str(sqlite_home.root), "--version", "100")
    assert code == 0 and _fits(out, sqlite_home.root)
    assert "Lineage of version 100 (not serving; version 200 serves)" in out
    for label in ("push", "blessing", "model", "trainer", "transform", "schema", "statistics", "examples"):
        assert f"\n  {label} " in out, label
    assert "code fingerprint code-run-1" in out and "<home>/model/run-1" in out


def test_rollback_command_then_lineage_of_the_serving_version(
    sqlite_home: FakeHome, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, "rollback", "--home", str(sqlite_home.root), "--json", "--reason", "drill")
    result = json.loads(out)
    assert code == 0 and result["changed"] is True and result["target_version"] == 100
    new_version = result["published_version"]
    assert new_version > 200 and result["serving_now"] == new_version

    code, out, _ = _cli(capsys, "rollback", "--home", str(sqlite_home.root), "--to", "100")
    assert code == 0 and out.startswith(f"nothing to do: version {new_version} already serves")

    code, out, _ = _cli(capsys, "lineage", "--home", str(sqlite_home.root), "--serving")
    assert code == 0
    assert f"version {new_version} republishes version 100" in out and "reason: drill" in out
    assert "version 100 by run run-1" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("rollback", "--to", "999"),
            "version 999 is not a version this home published (published versions: 100, 200)",
        ),
        (("lineage", "--version", "7"), "version 7 is not a version this home published"),
    ],
)
def test_unknown_versions_are_usage_errors(
    sqlite_home: FakeHome, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = _cli(capsys, *args, "--home", str(sqlite_home.root))
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_rollback_with_one_push_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    FakeHome(tmp_path, sqlite=True).run("run-1", span=1, version=100)
    code, _, err = _cli(capsys, "rollback", "--home", str(tmp_path))
    assert code == 2
    assert "nothing blessed to roll back to: version 100 is the only model this home pushed" in err


@pytest.mark.parametrize("command", ["runs", "lineage", "models", "rollback", "kpis"])
def test_a_home_without_metadata_is_a_usage_error_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, err = _cli(capsys, command, "--home", str(tmp_path / "empty"))
    assert code == 2 and out == ""
    assert f"no ML Metadata at {tmp_path / 'empty' / 'metadata.db'}" in err
    assert "--home" in err and "Traceback" not in err


def test_a_store_without_this_pipeline_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from runners.store import metadata as md

    md.connect(tmp_path / "metadata.db", create=True)
    code, _, err = _cli(capsys, "runs", "--home", str(tmp_path))
    assert code == 2 and "records no run of pipeline 'taxi'" in err


def test_a_home_with_no_push_yet_has_nothing_serving(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    FakeHome(tmp_path, sqlite=True)
    code, out, _ = _cli(capsys, "runs", "--home", str(tmp_path))
    assert code == 0 and "No runs of pipeline 'taxi'" in out
    code, _, err = _cli(capsys, "lineage", "--home", str(tmp_path))
    assert code == 2 and f"nothing serves: {tmp_path / 'serving' / 'taxi_big_tipper'} has no integer version" in err


def _document_of(home: FakeHome, metrics: dict[str, dict[str, float]]) -> dict:
    pushes = ln.find_pushes(home.store, "taxi")
    return ops.models_document(pushes, [100, 200, 300], metrics, str(home.serving))


def test_models_marks_the_highest_folder_as_serving_and_names_unrecorded_ones(tmp_path: Path) -> None:
    home = FakeHome(tmp_path)
    home.run("run-1", span=1, version=100)
    home.run("run-2", span=2, version=200)
    document = _document_of(home, {f"{tmp_path}/evaluation/run-1": {"binary_accuracy": 0.81, "auc": 0.7}})
    assert document["serving_version"] == 300 and document["unrecorded_versions"] == [300]
    assert [v["serving"] for v in document["versions"]] == [False, False]
    assert document["versions"][0]["metrics"] == {"binary_accuracy": 0.81, "auc": 0.7}
    text = ops.format_models(document)
    assert _fits(text, tmp_path)
    rows = [line for line in text.splitlines() if line[:1] in ("*", " ") and line.split()[:1] != ["VERSION"]]
    assert rows[0].split()[:3] == ["*", "300", "-"] and "not in ML Metadata" in rows[0]
    assert "0.8100" in text and "highest integer version folder" in text


def test_models_shows_a_rollback_as_the_serving_version(tmp_path: Path) -> None:
    from runners.serving.rollback import rollback

    home = FakeHome(tmp_path)
    home.run("run-1", span=1, version=100)
    home.run("run-2", span=2, version=200)
    rollback(home.store, "taxi", home.serving, now=300.0)
    pushes = ln.find_pushes(home.store, "taxi")
    document = ops.models_document(pushes, [100, 200, 300], {}, str(home.serving))
    serving = [v for v in document["versions"] if v["serving"]]
    assert [(v["version"], v["kind"], v["rollback_of"]) for v in serving] == [(300, "rollback", 100)]
    text = ops.format_models(document)
    first_row = text.splitlines()[3]
    assert first_row.split()[:2] == ["*", "300"] and "rollback to 100" in first_row
    # The rolled-back version and the one it replaced say so, in the JSON and on the console.
    statuses = {v["version"]: v["status"] for v in document["versions"]}
    assert statuses == {100: "superseded by 200", 200: "rolled back by 300", 300: "serving"}
    assert "rolled back by 300" in text and _fits(text, tmp_path)


def test_kpis_text_fits_a_terminal() -> None:
    document = {
        "pipeline": "taxi",
        "metadata": "/home/metadata.db",
        "deployment_frequency": {
            "deployments": 2,
            "rollbacks": 1,
            "period": {
                "start": 0.0,
                "end": 2 * 86400.0,
                "seconds": 2 * 86400.0,
                "days": ["1970-01-01", "1970-01-02", "1970-01-03"],
                "weeks": ["1970-W01"],
            },
            "by_day": [
                {"day": "1970-01-01", "deployments": 1},
                {"day": "1970-01-02", "deployments": 1},
                {"day": "1970-01-03", "deployments": 0},
            ],
            "by_week": [{"week": "1970-W01", "deployments": 2}],
            "per_day": 2 / 3,
            "per_week": 2.0,
            "mean_interval_s": 86400.0,
        },
        "lead_time": {
            "per_push": [{"version": 1}],
            "mean_s": 7200.0,
            "median_s": 7200.0,
            "max_s": 7200.0,
            "by_day": [{"day": "1970-01-01", "pushes": 1, "median_s": 7200.0}],
        },
        "blessing_rate": {"evaluated": 3, "blessed": 2, "rate": 2 / 3},
        "run_duration": {
            "runs": 3,
            "complete": 2,
            "failed": 1,
            "unfinished": 0,
            "by_kind": {
                "training": {"complete": 1, "mean_s": 104.0, "median_s": 104.0, "max_s": 104.0},
                "ingest-only": {"complete": 1, "mean_s": 12.0, "median_s": 12.0, "max_s": 12.0},
            },
            "mean_s": 58.0,
        },
        "trend": {
            "metric": "binary_accuracy",
            "comparison": "change = candidate minus baseline on the same rows",
            "first": 0.7,
            "last": 0.69,
            "changes": [0.006],
            "change": 0.006,
            "points": [
                {
                    "run_id": "2026-01-01T00:00:00.000000",
                    "window_spans": [1],
                    "value": 0.7,
                    "baseline_value": None,
                    "change": None,
                    "baseline_versions": [],
                    "blessed": True,
                },
                {
                    "run_id": "2026-01-02T00:00:00.000000",
                    "window_spans": [1, 2],
                    "value": 0.69,
                    "baseline_value": 0.684,
                    "change": 0.006,
                    "baseline_versions": [1],
                    "blessed": True,
                },
            ],
        },
    }
    text = ops.format_kpis(document)
    assert _fits(text, Path("/home"))
    flat = " ".join(text.split())
    assert "2 push(es) and 1 rollback(s), observed 1970-01-01 00:00:00 to 1970-01-03 00:00:00" in flat
    assert "0.67 per day and 2.00 per week" in " ".join(text.split())
    assert "2 of 3 evaluation(s) blessed (67%)" in text
    assert "median 2h00m" in text
    assert "training 1m44s mean" in text and "ingest-only 12s mean" in text
    assert "+0.0060 in the newest evaluation with a baseline" in text
    assert text.splitlines()[-1].split() == [
        "2026-01-02T00:00:00.000000",
        "1,2",
        "0.6900",
        "0.6840",
        "+0.0060",
        "1",
        "yes",
    ]


def test_rollback_in_a_home_locked_by_a_run_is_refused(
    sqlite_home: FakeHome, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl
    import os

    from runners.home import lock as home_lock

    # Another open file description holding the lock stands for a run in progress.
    fd = os.open(home_lock.lock_path(sqlite_home.root), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        code, out, err = _cli(capsys, "rollback", "--home", str(sqlite_home.root))
    finally:
        os.close(fd)
    assert code == 6 and out == "" and "another run holds the home folder" in err
    assert sorted(p.name for p in sqlite_home.serving.iterdir()) == ["100", "200"]
