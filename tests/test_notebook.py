"""notebooks/quickstart.ipynb runs top to bottom (with the tiny config)."""

import nbclient
import nbformat

from conftest import ROOT


def test_quickstart_notebook_executes():
    path = ROOT / "notebooks" / "quickstart.ipynb"
    notebook = nbformat.read(path, as_version=4)
    params = notebook.cells[1]
    assert "CONFIG_ARG" in params.source and "NUM_STEPS" in params.source
    params.source = 'CONFIG_ARG = "smoke"\nNUM_STEPS = 3'
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    ).execute()
    outputs = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert "(64, 28, 28, 1) float32" in outputs
    shown = notebook.cells[-1].outputs[-1]
    assert "image/png" in shown["data"]
