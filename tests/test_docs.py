"""Every Python code block in README.md and docs/*.md runs, in order, file by file.

Blocks of one file share a namespace (a later block may use an earlier one's
names) and run in a scratch folder that holds the capture files the docs
name.  The docs capture from ``eth0``: here that is one end of a veth pair in
the test session's private network namespace, with a sender on the other end
producing TCP/UDP conversations for as long as the file's blocks run.
Command lines (```console, ```sh) are shown, not run: the CLI tests run them.
"""
from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import pytest

import ringcap
from conftest import sh
from ringcap.testing import synthetic_traffic

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.M | re.S)


def python_blocks(path: Path) -> list[tuple[int, str]]:
    text = path.read_text()
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


# Pages whose blocks another test runs, with a resource that test owns:
# docs/datasets.md needs Spark, and the suite starts one Spark session only.
RUN_ELSEWHERE = {"datasets.md": "tests/test_parquet.py"}
DOC_FILES = [p for p in FILES if python_blocks(p) and p.name not in RUN_ELSEWHERE]


@pytest.fixture(scope="module")
def doc_network(netns):
    """eth0 <-> eth0peer, with steady traffic into eth0 while the tests of this module run."""
    sh("ip link add eth0 type veth peer name eth0peer")
    sh("ip link set eth0 up && ip link set eth0peer up")
    stop = threading.Event()
    traffic = synthetic_traffic(20_000, conversations=64, seed=5, ipv6_share=0.2)
    traffic = traffic[traffic.caplen <= 1514]

    def send():
        with ringcap.TxRing("eth0peer", frame_count=1024) as tx:
            while not stop.is_set():
                for start in range(0, len(traffic), 1000):
                    if stop.is_set():
                        return
                    tx.send(traffic[start:start + 1000])
                    time.sleep(0.005)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        yield "eth0"
    finally:
        stop.set()
        sender.join(10)
        sh("ip link del eth0")


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A folder with the capture files the docs read."""
    monkeypatch.chdir(tmp_path)
    sample = synthetic_traffic(5_000, conversations=32, seed=9)
    for name in ("in.pcap", "capture.pcap", "trace.pcap", "huge.pcap"):
        ringcap.write_pcap(name, sample)
    for name in ("in.pcapng", "huge.pcapng", "capture.pcapng"):
        ringcap.write_pcap(name, sample, format="pcapng")
    return tmp_path


@pytest.mark.parametrize("path", DOC_FILES, ids=[p.name for p in DOC_FILES])
def test_python_blocks_run(path, doc_network, scratch):
    namespace: dict = {"__name__": f"docs_{path.stem}"}
    for line, source in python_blocks(path):
        code = compile(source, f"{path.name}:{line}", "exec")
        try:
            exec(code, namespace)
        except Exception as exc:
            raise AssertionError(f"{path.relative_to(ROOT)} line {line}: the block fails with "
                                 f"{type(exc).__name__}: {exc}") from exc


def test_readme_lists_every_debian_package_the_tests_install():
    packages = (ROOT / ".ci" / "apt-packages").read_text().split()
    readme = (ROOT / "README.md").read_text()
    install = next(line for line in readme.splitlines() if line.strip().startswith("apt-get"))
    assert packages and sorted(install.split()[2:]) == sorted(packages)
    assert re.search(r"suite takes about \d+ minutes", readme)
