"""The API reference builds from the docstrings with warnings as errors, and names every public name."""
from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ringcap

DOCS = Path(__file__).resolve().parent.parent / "docs" / "api"
# Sphinx imports the ringcap these tests import (installed, or built in place),
# never a source checkout without its compiled modules.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(ringcap.__file__))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("sphinx")
    out = tmp_path_factory.mktemp("apidocs")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(DOCS), str(out / "html")], capture_output=True, text=True,
                          timeout=600, cwd=out, env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
    assert proc.returncode == 0, proc.stderr[-4000:]
    return (out / "html" / "index.html").read_text()


def _documented_modules() -> list[str]:
    return re.findall(r"^\.\. automodule:: (ringcap[\w.]*)", (DOCS / "index.rst").read_text(), re.M)


def test_reference_builds_without_warnings(built):
    assert 'id="ringcap.batch.Batch"' in built


def test_every_public_name_is_in_the_reference(built):
    anchors = set(re.findall(r'id="(ringcap\.[\w.]+)"', built))
    missing = []
    modules = [m for m in _documented_modules() if m != "ringcap"]
    for name in modules:
        module = importlib.import_module(name)
        for public in getattr(module, "__all__", ()):
            if f"{name}.{public}" not in anchors:
                missing.append(f"{name}.{public}")
    for public in ringcap.__all__:
        obj = getattr(ringcap, public)
        if isinstance(obj, type(ringcap)):          # a module: must be documented as one
            if obj.__name__ not in modules:
                missing.append(obj.__name__)
        elif not any(f"{m}.{public}" in anchors for m in modules):
            missing.append(f"ringcap.{public}")
    assert not missing, "not in docs/api/index.rst: " + ", ".join(missing)


def test_every_public_name_has_a_docstring():
    bare = []
    for name in _documented_modules():
        module = importlib.import_module(name)
        assert (module.__doc__ or "").strip(), f"module {name} has no docstring"
        for public in getattr(module, "__all__", ()):
            obj = getattr(module, public)
            if callable(obj) and not (getattr(obj, "__doc__", None) or "").strip():
                bare.append(f"{name}.{public}")
    assert not bare, "no docstring: " + ", ".join(bare)
