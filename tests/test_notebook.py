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


def test_notebook_runs_again_and_again_and_leaves_nothing_behind(tmp_path):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    workdir = tmp_path / "work"          # the kernel's working folder, as Jupyter's
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    env.pop("MPLBACKEND", None)          # the kernel draws inline, as in Jupyter
    for run in (1, 2):                   # the second run in the same folder must work too
        out = tmp_path / f"executed-{run}.ipynb"
        proc = subprocess.run([sys.executable, "-c", RUNNER, str(NOTEBOOK), str(workdir),
                               str(out)], capture_output=True, text=True, timeout=900, env=env)
        assert proc.returncode == 0, f"run {run}: " + proc.stderr[-4000:]
        cells = [c for c in json.loads(out.read_text())["cells"] if c["cell_type"] == "code"]
        assert all(c["outputs"] for c in cells)                 # every cell shows something
        errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
        assert not errors
        text = "".join(o.get("text", "") if isinstance(o.get("text", ""), str)
                       else "".join(o["text"]) for c in cells for o in c["outputs"])
        assert "<Batch 200000 packets" in text
        images = [o for c in cells for o in c["outputs"] if "image/png" in o.get("data", {})]
        assert len(images) >= 2
        assert list(workdir.iterdir()) == [], f"run {run} left files behind"
        last = "".join(cells[-1]["outputs"][0]["text"])
        assert last.strip() == "False"                      # the sample file is gone


def test_stored_notebook_has_outputs():
    """The repository copy keeps its outputs, so it reads well without running it."""
    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    assert cells and all(c["outputs"] for c in cells)
