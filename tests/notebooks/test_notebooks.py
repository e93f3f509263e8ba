"""Execute every researcher notebook against the SYNTHETIC demo warehouse.

The kernel is this interpreter (the venv's python), through a kernelspec created in a
temporary directory with ``python -m ipykernel install --prefix`` and resolved by a
KernelSpecManager that looks only there: nothing from ~/.local or a system Jupyter is used.
Any cell error fails the test (nbclient raises CellExecutionError).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOK_DIR.glob("[0-9]*.ipynb"))
KERNEL_NAME = "pilotmonitor-nbtest"


@pytest.fixture(scope="session")
def kernel_dirs(tmp_path_factory) -> list[str]:
    prefix = tmp_path_factory.mktemp("jupyter_prefix")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ipykernel",
            "install",
            "--prefix",
            str(prefix),
            "--name",
            KERNEL_NAME,
            "--display-name",
            "Pilotmonitor (test venv)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    kernels = prefix / "share" / "jupyter" / "kernels"
    spec = json.loads((kernels / KERNEL_NAME / "kernel.json").read_text())
    assert Path(spec["argv"][0]).resolve() == Path(sys.executable).resolve(), spec["argv"]
    return [str(kernels)]


def test_notebooks_present_and_without_outputs():
    assert len(NOTEBOOKS) >= 3, NOTEBOOKS
    for name in NOTEBOOKS:
        nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, (
                    f"{name}: committed with outputs"
                )
        assert "SYNTHETIC" in nb.cells[0].source, (
            f"{name}: first cell must say the data are synthetic"
        )


def test_every_notebook_is_its_script():
    """Each notebook is a jupytext pair (notebooks/jupytext.toml): the committed .ipynb holds
    exactly the cells of its percent-format .py, the reviewed and linted source."""
    import jupytext
    from jupytext.compare import compare_notebooks

    scripts = sorted(NOTEBOOK_DIR.glob("[0-9]*.py"))
    assert [p.with_suffix(".ipynb").name for p in scripts] == NOTEBOOKS
    for script in scripts:
        notebook = nbformat.read(script.with_suffix(".ipynb"), as_version=4)
        # raises NotebookDifference naming the first cell that differs
        compare_notebooks(notebook, jupytext.read(script), fmt="py:percent")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, demo_data_dir, kernel_dirs, tmp_path, monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    warehouse = demo_data_dir / "warehouse" / "pilotmonitor.duckdb"
    assert warehouse.is_file()
    before = warehouse.stat().st_mtime_ns
    monkeypatch.setenv("PILOTMONITOR_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("PILOTMONITOR_DATA_DIR", str(demo_data_dir))
    # the kernel's inline backend renders the figures
    monkeypatch.delenv("MPLBACKEND", raising=False)
    # nothing from the user's home: no IPython profile/startup files, Jupyter config or user
    # site-packages
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "jupyter_config"))
    monkeypatch.setenv("PYTHONNOUSERSITE", "1")
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")

    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    ksm = KernelSpecManager(kernel_dirs=kernel_dirs, ensure_native_kernel=False)
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)
    client = NotebookClient(
        nb,
        km=km,
        kernel_name=KERNEL_NAME,
        timeout=600,
        allow_errors=False,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on any cell error

    text = "\n".join(
        out.get("text", "")
        if out.get("output_type") == "stream"
        else str(out.get("data", {}).get("text/plain", ""))
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )
    assert "SYNTHETIC" in text
    if name.startswith("02"):
        assert "REPRODUCED:" in text
    if name.startswith("03"):
        assert any(
            "image/png" in out.get("data", {})
            for cell in nb.cells
            if cell.cell_type == "code"
            for out in cell.outputs
        ), "no plot in the output"
    assert warehouse.stat().st_mtime_ns == before, "the notebook changed the warehouse file"
