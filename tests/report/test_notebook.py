"""docs/analysis.ipynb is executed on a small results store made here."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.report.constructed import make_store

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "analysis.ipynb"


def test_notebook_runs_on_a_results_store(tmp_path, monkeypatch):
    store = make_store(tmp_path, {"Better": 0.02, "Same": 0.0})
    monkeypatch.setenv("RECSYS_RESULTS", str(store.root))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "Better vs " in outputs and "Wilcoxon p = " in outputs
    assert (store.root / "notebook-plot.png").stat().st_size > 5_000
