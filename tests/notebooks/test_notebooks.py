"""The notebooks run end to end on small data, write nothing into the repository and stay paired.

Each notebook is executed from its percent-format source (the source of truth) in a python3 kernel of
this interpreter, with the kernel started in `notebooks/` as Jupyter would, on a small synthetic base, a
hand-made CDNOW file and a temporary MLflow store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets import default

from domain.vocabulary import MODEL_NAMES
from features.definitions import FEATURES

REPOSITORY = Path(__file__).resolve().parents[2]
DIAGNOSED = ("churn", "reactivation", "conversion", "value", "value_if_retained")
"""The models notebook 02 recomputes; the order and range models are judged in their model cards."""
NOTEBOOKS = REPOSITORY / "notebooks"
NOTEBOOK_NAMES = ("01_explore_features", "02_model_diagnostics")
# The training cell of 02 fits five models twice (backtest and refit): about 30 s alone, several times
# that when other jobs share the machine's cores (LightGBM's OpenMP threads slow down sharply then).
CELL_TIMEOUT_S = 900
SMALL_BASE_CUSTOMERS = 800


class VenvKernelManager(AsyncKernelManager):
    """Starts ipykernel's built-in python3 spec, i.e. this interpreter, never a kernelspec found on disk."""

    @default("kernel_spec_manager")
    def _native_kernel_only(self) -> KernelSpecManager:
        return KernelSpecManager(kernel_dirs=[])


def execute(name: str) -> nbformat.NotebookNode:
    """Run a notebook's percent-format source and return it with its outputs."""
    return execute_notebook(jupytext.read(NOTEBOOKS / f"{name}.py"))


def execute_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    NotebookClient(
        notebook,
        kernel_name="python3",
        kernel_manager_class=VenvKernelManager,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    return notebook


def printed_text(notebook: nbformat.NotebookNode) -> str:
    """Everything the cells printed or displayed as plain text, in order."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif "data" in output and "text/plain" in output.data:
                parts.append(output.data["text/plain"])
    return "\n".join(parts)


def image_count(notebook: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", [])
    )


def repository_files() -> dict[Path, float]:
    """The files a notebook could write into by mistake: its own folder and the default MLflow store."""
    return {
        path: path.stat().st_mtime
        for folder in (NOTEBOOKS, REPOSITORY / "mlruns")
        for path in folder.rglob("*")
        if path.is_file() and ".ipynb_checkpoints" not in path.parts
    }


def write_cdnow_file(path: Path) -> tuple[int, int]:
    """A CDNOW-format log of 60 customers who first buy in Q1 1997, the last purchase on 1998-06-30.

    Returns (purchases, customers).
    """
    lines = [" customer_id  date number_of_cds  dollar_value"]
    for customer in range(1, 61):
        day = date(1997, 1, 1) + timedelta(days=(customer - 1) % 80)
        stop = date(1997, 3, 1) + timedelta(days=8 * customer)
        purchase = 0
        while day < min(stop, date(1998, 6, 30)):
            lines.append(
                f" {customer:05d} {day:%Y%m%d} {1 + purchase % 3:2d} {10 + customer + purchase:8.2f}"
            )
            day += timedelta(days=20 + customer)
            purchase += 1
    lines.append(f" {60:05d} 19980630  1    15.00")
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 1, 60


@pytest.fixture
def small_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Small data, a temporary MLflow store and inline plots; fails if the repository changed."""
    monkeypatch.setenv("CLVCHURN_NB_CUSTOMERS", str(SMALL_BASE_CUSTOMERS))
    monkeypatch.setenv("CLVCHURN_NB_SEED", "7")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    monkeypatch.setenv("CLVCHURN_NB_TRAIN_IF_MISSING", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # renders with Agg
    for variable in ("CLVCHURN_NB_DATA", "CLVCHURN_NB_AS_OF", "CLVCHURN_NB_MIGRATION_DAYS"):
        monkeypatch.delenv(variable, raising=False)
    before = repository_files()
    yield tmp_path
    assert repository_files() == before, "a notebook wrote into notebooks/ or mlruns/ of the repository"


@pytest.mark.slow
def test_explore_features_runs_on_synthetic_data_and_cdnow(
    small_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cdnow_path = small_run / "CDNOW_small.txt"
    purchases, customers = write_cdnow_file(cdnow_path)
    monkeypatch.setenv("CLVCHURN_NB_CDNOW", str(cdnow_path))

    notebook = execute("01_explore_features")
    text = printed_text(notebook)

    assert f"synthetic customers {SMALL_BASE_CUSTOMERS:,} (seed 7), cutoff 2025-01-01" in text
    assert f"customers: {SMALL_BASE_CUSTOMERS:,} rows" in text
    assert "feature catalogue" in text
    assert "features alone equal the whole-base row: True" in text
    assert f"{purchases:,} purchases by {customers:,} customers, 1997-01-01 to 1998-06-30" in text
    # CDNOW has no customer records, so no profile attributes: exactly the defined features.
    assert f"{customers:,} customers x {len(FEATURES)} features as of 1997-10-01" in text
    assert "CDNOW feature catalogue (informative features)" in text
    assert image_count(notebook) == 4


@pytest.mark.slow
def test_model_diagnostics_trains_when_missing_then_diagnoses_the_champion(small_run: Path) -> None:
    notebook = execute("02_model_diagnostics")
    text = printed_text(notebook)

    assert "**No champion is registered**" in text
    assert "trained: clvchurn-pair v1 -> champion (no champion before)" in text
    for name in MODEL_NAMES:
        assert re.search(
            rf"^{name} v1: .+; backtest as of \d{{4}}-\d{{2}}-\d{{2}}; trained through ", text, re.M
        )
    assert "recomputed backtest metrics equal the stored ones: True" in text
    for name in set(MODEL_NAMES) - set(DIAGNOSED):
        assert f"{name}: its backtest against a naive forecast is in its model card" in text
    gaps = [float(gap) for gap in re.findall(r"prediction\| = (\S+)", text)]
    without_shap = re.findall(r"^(\w+) model: no SHAP", text, re.M)
    assert len(gaps) >= 2 and len(gaps) + len(without_shap) == len(DIAGNOSED) and max(gaps) < 1e-6
    assert "metrics by segment and tier" in text
    assert "tier migration from 2025-10-03 (rows) to 2026-01-01 (columns)" in text
    assert "tier_before" in text
    assert image_count(notebook) == len(gaps) + 1  # a SHAP summary per fitted model, one calibration figure
    assert (small_run / "mlruns" / "mlflow.db").is_file()


@pytest.mark.slow
def test_model_diagnostics_stops_with_a_message_when_no_champion_and_leaves_the_store_alone(
    small_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLVCHURN_NB_TRAIN_IF_MISSING", "0")
    monkeypatch.setenv("CLVCHURN_NB_CUSTOMERS", "50")
    notebook = jupytext.read(NOTEBOOKS / "02_model_diagnostics.py")

    with pytest.raises(CellExecutionError) as stopped:
        execute_notebook(notebook)

    assert stopped.value.ename == "ModelNotRegisteredError"
    assert "**No champion is registered**" in printed_text(notebook)
    assert not (small_run / "mlruns").exists()


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_paired_notebook_matches_its_source_and_holds_no_outputs(name: str) -> None:
    source = jupytext.read(NOTEBOOKS / f"{name}.py")
    stored = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)

    assert [(cell.cell_type, cell.source) for cell in stored.cells] == [
        (cell.cell_type, cell.source) for cell in source.cells
    ], f"notebooks/{name}.ipynb is out of date: run `uv run jupytext --sync notebooks/*.py`"
    assert [cell.get("outputs", []) for cell in stored.cells if cell.cell_type == "code"] == [
        [] for cell in stored.cells if cell.cell_type == "code"
    ]
    assert all(cell.get("execution_count") is None for cell in stored.cells if cell.cell_type == "code")
