"""monitoring/alerts.yml: valid for promtool, every alert unit-tested firing, documented, on metrics that exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from runners.monitoring import textfile
from tests.prometheus_tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
RULES = MONITORING / "alerts.yml"
TESTS = sorted((MONITORING / "tests").glob("*.yml"))


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_tool("promtool")


def test_promtool_accepts_the_rules(promtool: str) -> None:
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    assert TESTS
    result = subprocess.run(
        [promtool, "test", "rules", *(p.name for p in TESTS)],
        cwd=MONITORING / "tests",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TESTS), result.stdout


def test_every_alert_has_a_unit_test_that_sees_it_fire_and_one_that_sees_it_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = {rule["alert"] for rule in _rules()}
    assert alerts - firing == set(), "alerts no unit test sees firing"
    assert alerts - quiet == set(), "alerts no unit test sees quiet"


def test_every_alert_has_a_severity_summary_and_runbook() -> None:
    for rule in _rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        for annotation in ("summary", "description", "runbook"):
            assert rule["annotations"].get(annotation, "").strip(), (rule["alert"], annotation)


def test_the_readme_explains_every_alert() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [rule["alert"] for rule in _rules() if f"`{rule['alert']}`" not in readme]
    assert missing == []


def test_pipeline_metrics_in_the_rules_are_the_ones_the_textfile_writes() -> None:
    used = set(re.findall(r"\btaxi_pipeline_\w+", RULES.read_text()))
    assert used and used <= set(textfile.GAUGES), used - set(textfile.GAUGES)


def test_serving_metrics_in_the_rules_are_exported_by_the_server() -> None:
    # The names the server really exposes: its registry's families, with the suffixes prometheus_client
    # adds by type (labelled series have no samples until first used, so names come from the families).
    from runners.serving.metrics import ServingMetrics

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    exported = {
        family.name + suffix
        for family in ServingMetrics().registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }
    used = set(re.findall(r"\btaxi_serving_\w+", RULES.read_text()))
    assert used <= exported, used - exported
