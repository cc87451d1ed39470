"""Type checkers see ringcap's public API precisely: `mypy --strict` passes on a user's script."""
from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest

import ringcap
from ringcap.batch import COLUMNS

HERE = Path(__file__).resolve().parent


def test_mypy_strict_passes_on_a_user_script(tmp_path):
    pytest.importorskip("mypy")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(HERE / "typing" / "mypy.ini"),
         "--cache-dir", str(tmp_path / "cache"), str(HERE / "typing" / "user_script.py")],
        capture_output=True, text=True, timeout=600, cwd=HERE.parent)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def _dtype_of(hint) -> np.dtype:
    # npt.NDArray[np.int64] is ndarray[tuple[Any, ...], dtype[np.int64]]
    return np.dtype(typing.get_args(typing.get_args(hint)[1])[0])


def test_batch_column_annotations_match_the_columns():
    hints = typing.get_type_hints(ringcap.Batch)
    for name, dtype in COLUMNS.items():
        assert _dtype_of(hints[name]) == dtype, name
    assert _dtype_of(hints["data"]) == np.uint8


def test_headers_and_flow_table_annotations_match_their_columns():
    from ringcap.headers import HEADER_COLUMNS
    from ringcap.testing import synthetic_traffic
    hints = typing.get_type_hints(ringcap.Headers)
    for name, (dtype, _) in HEADER_COLUMNS.items():
        assert _dtype_of(hints[name]) == dtype, name
    table = ringcap.flows(synthetic_traffic(200))
    hints = typing.get_type_hints(ringcap.FlowTable)
    for name, array in table.columns().items():
        assert _dtype_of(hints[name]) == array.dtype, name
