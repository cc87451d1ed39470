"""The command line: `ringcap capture` and `ringcap demo`, run as a user would."""
import os
import re
import subprocess
import sys

import ringcap
from conftest import TEST_ETHERTYPE, RingcapProcess, make_frame
from ringcap import TxRing, read_pcap

PACKAGE_ROOT = os.path.dirname(os.path.dirname(ringcap.__file__))


def run_cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "ringcap", *args], cwd="/",
                            env={**os.environ, "PYTHONPATH": PACKAGE_ROOT},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_capture_writes_the_filtered_packets_to_a_file(veth, tmp_path):
    path = tmp_path / "out.pcap"
    cli = RingcapProcess("capture", "-i", veth.b, "-c", "20", "-w", str(path),
                         "ether", "proto", hex(TEST_ETHERTYPE))
    cli.wait_for("listening on")
    frames = [make_frame(i, 64 + i) for i in range(20)]
    with TxRing(veth.a) as tx:
        tx.send([make_frame(0, 60, ethertype=TEST_ETHERTYPE + 1)] * 5)   # filtered out
        tx.send(frames)
    assert cli.finish() == 0, cli.err
    assert "20 packets captured" in cli.err and f"written to {path}" in cli.err
    assert read_pcap(path).packets() == frames


def test_capture_reports_bad_input_without_a_traceback(netns):
    proc = run_cli("capture", "-i", "nosuch0", "-c", "1")
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert err.startswith("ringcap: ") and "nosuch0" in err and "Traceback" not in err
    proc = run_cli("capture", "-c", "1", "tcp", "port", "port")
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 1 and "invalid capture filter" in err and len(err.splitlines()) == 1


def test_demo_runs_in_its_own_namespace(netns):
    proc = run_cli("demo", "--count", "20000")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "captured   20000 packets" in out
    assert "ring drops 0" in out and "not seen 0" in out
    assert "every byte as sent, in order: True" in out
    lines = out.splitlines()
    shown = lines[lines.index(next(l for l in lines if l.startswith("first 8 packets"))) + 1:][:8]
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} IP6? ", l) for l in shown), shown
    assert re.search(r"time       first packet \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC", out)
