"""notebooks/01-schema-drift.ipynb executed headless, with the project's kernel, on a home with two spans."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.e2e.conftest import ROOT, HealthyHome

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOTEBOOK = ROOT / "notebooks" / "01-schema-drift.ipynb"


def _outputs_of(notebook: nbformat.NotebookNode, tag: str) -> str:
    """Returns the text and HTML outputs of the cell carrying a tag."""
    (cell,) = [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
    parts = []
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        parts += [str(data.get("text/html", "")), str(data.get("text/plain", "")), str(output.get("text", ""))]
    return "\n".join(parts)


def test_notebook_shows_drift_and_anomalies_of_the_last_two_spans(
    healthy_home: HealthyHome, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The kernel inherits the environment: this is how the notebook finds the test's home.
    monkeypatch.setenv("TAXI_PIPELINE_HOME", str(healthy_home.home))
    notebook = nbformat.read(NOTEBOOK, as_version=4)

    NotebookClient(
        notebook, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    drift = _outputs_of(notebook, "drift-table")
    assert "<table" in drift
    for text in ("Jensen-Shannon", "L-infinity", "fare", "payment_type", "tips", "no limit"):
        assert text in drift
    assert "comparing span 2 with span 1" in "\n".join(
        str(o.get("text", "")) for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "No anomalies in span 2." in _outputs_of(notebook, "anomalies-table")
    assert "span 2 against span 1 (train split)" in _outputs_of(notebook, "recorded-drift")
