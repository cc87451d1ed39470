"""docs/analysis.ipynb runs from top to bottom (nbclient, a real kernel), so it never rots."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ringcap

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "analysis.ipynb"
PACKAGE_ROOT = os.path.dirname(os.path.dirname(ringcap.__file__))

# Executed in a child process: the kernel machinery's own deprecation warnings are not ours.
RUNNER = """
import sys, nbformat, nbclient
nb = nbformat.read(sys.argv[1], as_version=4)
nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                        resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(nb, sys.argv[3])
"""


def test_notebook_executes_and_shows_the_analysis(tmp_path):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    out = tmp_path / "executed.ipynb"
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    env.pop("MPLBACKEND", None)          # the kernel draws inline, as in Jupyter
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(NOTEBOOK), str(tmp_path), str(out)],
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    cells = [c for c in json.loads(out.read_text())["cells"] if c["cell_type"] == "code"]
    assert all(c["outputs"] for c in cells)                 # every cell shows something
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors
    text = "".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                   for c in cells for o in c["outputs"])
    assert "<Batch 200000 packets" in text
    images = [o for c in cells for o in c["outputs"] if "image/png" in o.get("data", {})]
    assert len(images) >= 2
    assert (tmp_path / "sample.pcapng").stat().st_size > 100_000_000


def test_stored_notebook_has_outputs():
    """The repository copy keeps its outputs, so it reads well without running it."""
    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    assert cells and all(c["outputs"] for c in cells)
