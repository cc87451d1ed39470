"""The decoder under a bounds-checked debug build.

The release extension trusts the decoder's own length checks.  This test
builds ``ringcap._decode`` with ``RINGCAP_CYTHON_DEBUG=1`` (Cython bounds
checks, and every byte read checked against caplen and counted) into a copy of
the package under test, then runs the decoder's test module against that
copy, with the tshark comparison (every frame cut at every byte) and the
link-type fast paths against the general decoder: their tests assert that
no read ever passed caplen.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ringcap

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(900)
def test_decoder_never_reads_past_caplen_under_the_debug_build(tmp_path):
    if not (REPO / "setup.py").exists():
        pytest.fail("the debug build needs the source tree (setup.py) next to tests/")
    package = Path(ringcap.__file__).resolve().parent
    shutil.copytree(package, tmp_path / "ringcap",
                    ignore=shutil.ignore_patterns("_decode.*.so", "__pycache__"))
    env = {**os.environ, "RINGCAP_CYTHON_DEBUG": "1", "RINGCAP_EXTENSIONS": "_decode"}
    build = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--build-lib", str(tmp_path),
         "--build-temp", str(tmp_path / "build"), "--force"],
        cwd=REPO, env=env, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-4000:]
    # the copy with the debug extension first on sys.path: it is what gets imported
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    check = subprocess.run(
        [sys.executable, "-c", "import ringcap._decode as d; print(d.CHECKED_READS, d.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True)
    assert check.stdout.split()[0] == "True", check.stdout + check.stderr
    assert check.stdout.split()[1].startswith(str(tmp_path))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "tests" / "test_decode.py"),
         str(REPO / "tests" / "test_decode_tshark.py"),
         # the per-link-type fast paths against the general decoder
         str(REPO / "tests" / "test_linktypes.py") + "::test_shortcuts_equal_the_general_path",
         str(REPO / "tests" / "test_linktypes.py")
         + "::test_batches_of_mixed_link_types_decode_as_each_alone", "-q",
         "-m", "not network", "-p", "no:cacheprovider", "-W", "error"],
        cwd=tmp_path, env=env, capture_output=True, text=True)
    tail = run.stdout[-3000:] + run.stderr[-2000:]
    assert run.returncode == 0, tail
    last = run.stdout.strip().splitlines()[-1]
    assert " passed" in last and "skipped" not in last and "failed" not in last, last
