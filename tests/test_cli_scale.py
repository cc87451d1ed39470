"""`ringcap -i a,b` and `ringcap --workers N`, run as real subprocesses."""
import contextlib
import re
import subprocess
import time

import numpy as np
import pytest

from conftest import DEADLINE, VethPair
from test_cli import run_cli
from test_fanout import seqs_and_flows, udp_frame
from ringcap import PcapReader, TxRing, read_pcap


def send_until_done(proc, senders, seconds=DEADLINE):
    """Send numbered UDP bursts on each TxRing until ``proc`` ends; returns
    how many went out on each."""
    sent = [0] * len(senders)
    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        for k, tx in enumerate(senders):
            sent[k] += tx.send([udp_frame(k * 10**6 + sent[k] + i, k) for i in range(100)])
        time.sleep(0.05)
    return sent


def captured(err: str) -> int:
    return int(re.search(r"(\d+) packets captured", err).group(1))


def test_two_interfaces_one_file_with_statistics_for_each(veth, tmp_path):
    other = VethPair()
    path = tmp_path / "two.pcapng"
    try:
        proc = run_cli("-i", f"{veth.b},{other.b}", "-w", str(path), "--duration", "3", "udp")
        with TxRing(veth.a) as tx1, TxRing(other.a) as tx2:
            send_until_done(proc, [tx1, tx2])
        out, err = proc.communicate(timeout=30)
    finally:
        other.delete()
    assert proc.returncode == 0, err
    assert f"listening on {veth.b},{other.b}" in err
    got = read_pcap(path)
    with PcapReader(path) as reader:
        list(reader)
        names = [i.name for i in reader.interfaces]
        stats = {s.interface: s for s in reader.stats}
    assert names == [veth.b, other.b]
    per_if = np.bincount(got.ifindex, minlength=2)
    assert per_if[0] > 0 and per_if[1] > 0 and captured(err) == len(got)
    # Each interface's block counts what its socket received: the packets in the
    # file, those the kernel dropped, and those still in the ring when the
    # capture stopped (the sender runs until the process exits), which the
    # closing lines count: received == written + dropped + unread.
    unread = re.search(r"(\d+) packets left unread in the ring", err)
    unread = int(unread.group(1)) if unread else 0
    assert sorted(stats) == [0, 1]
    for index in (0, 1):
        assert stats[index].received >= per_if[index] + stats[index].os_dropped
    assert sum(stats[i].received - stats[i].os_dropped for i in (0, 1)) == len(got) + unread
    assert sum(stats[i].received for i in (0, 1)) == int(
        re.search(r"(\d+) packets received by filter", err).group(1))
    info = subprocess.run(["capinfos", "-I", str(path)], capture_output=True, text=True,
                          check=True).stdout
    assert info.count("Number of stat entries = 1") == 2


@pytest.mark.parametrize("name", ["all.pcapng", "w{worker}.pcap"])
def test_workers_write_one_file_or_one_per_worker(veth, tmp_path, name):
    proc = run_cli("-i", veth.b, "--workers", "2", "-w", str(tmp_path / name), "--duration", "4")
    with TxRing(veth.a) as tx:
        send_until_done(proc, [tx])
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "with 2 workers (fanout hash)" in err
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ([name] if "{" not in name else ["w0.pcap", "w1.pcap"])
    batches = [read_pcap(f) for f in files]
    seqs = np.concatenate([seqs_and_flows(b)[0] for b in batches])
    assert len(seqs) > 0 and len(np.unique(seqs)) == len(seqs)
    assert captured(err) == sum(len(b) for b in batches)
    received = int(re.search(r"(\d+) packets received by filter", err).group(1))
    dropped = int(re.search(r"(\d+) packets dropped by kernel", err).group(1))
    assert received == captured(err) + dropped


def test_workers_refuse_what_they_cannot_do(veth, tmp_path):
    proc = run_cli("-i", f"{veth.a},{veth.b}", "--workers", "2", "-c", "1")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "one interface" in err and "Traceback" not in err
    proc = run_cli("-i", veth.b, "--workers", "2", "-C", "1", "-w", str(tmp_path / "x{worker}"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "one file per worker" in err


def wait_for_listening(proc, seconds=60):
    """Read stderr until the "listening on" line (the rings are open); returns it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "listening on" in line or not line:
            return line
    raise AssertionError("no 'listening on' line in time")


@pytest.mark.parametrize("fanout", ["lb", "hash"])
def test_workers_write_one_file_in_time_order(veth, tmp_path, fanout):
    """Packets that alternate between two workers (lb) or go by flow (hash)
    come out of `--workers 2 -w one.pcap` in time order, as one ring's would
    (they used to be written batch by batch: "Strict time order: False")."""
    import signal
    path = tmp_path / "one.pcap"
    proc = run_cli("-i", veth.b, "--workers", "2", "--fanout", fanout, "-U", "-w", str(path),
                   "--duration", "120", "udp", "and", "dst", "port", "9")
    try:
        assert "listening on" in wait_for_listening(proc)
        sent = 0
        with TxRing(veth.a) as tx:
            for burst in range(60):                     # about 3 s, flows to both workers
                sent += tx.send([udp_frame(sent + i, (sent + i) % 16) for i in range(200)])
                time.sleep(0.05)
        # wait (generously) for the packets to reach the file, then stop as with Ctrl-C
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists() and path.stat().st_size >= 24 + sent * (16 + 64):
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, rest
    info = subprocess.run(["capinfos", "-o", "-c", str(path)], capture_output=True, text=True,
                          check=True).stdout
    assert "Strict time order:   True" in info, info
    got = read_pcap(path)
    assert np.all(got.ts[1:] >= got.ts[:-1])
    seqs, flows = seqs_and_flows(got)
    assert len(np.unique(seqs)) == len(seqs) and np.all(seqs < sent)
    assert len(set(flows.tolist())) == 16
    received = int(re.search(r"(\d+) packets received by filter", rest).group(1))
    dropped = int(re.search(r"(\d+) packets dropped by kernel", rest).group(1))
    assert captured(rest) == len(got) and received == len(got) + dropped
    assert received <= sent
    assert "written after newer ones" not in rest


@contextlib.contextmanager
def small_disk(folder, size="2m"):
    """A tmpfs of ``size`` mounted at ``folder`` (made here), unmounted after."""
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                    str(folder)], check=True, capture_output=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True, capture_output=True)


def capinfos_count(path) -> int:
    out = subprocess.run(["capinfos", "-M", "-c", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return int(re.search(r"Number of packets:\s+(\d+)", out).group(1))


def test_workers_stopped_by_a_full_disk_count_every_packet_in_the_summary(veth, tmp_path):
    """`--workers 2 -w 'w{worker}.pcap'` onto a full disk: each worker that
    fails says so, with the packets in its file and those it read but could
    not write; the summary said "0 packets captured, 0 received by filter"
    (a failing worker sent only its error, not its statistics and summary).
    Now it says what the files hold (capinfos), and received = captured +
    dropped + unread + read but not written, as the error lines count them."""
    with small_disk(tmp_path / "small") as disk:
        proc = run_cli("-i", veth.b, "--workers", "2", "-w", str(disk / "w{worker}.pcap"),
                       "udp", "and", "dst", "port", "9")
        try:
            assert "listening on" in wait_for_listening(proc)
            sent = 0
            deadline = time.monotonic() + DEADLINE
            with TxRing(veth.a) as tx:          # 1000-byte frames, flows to both workers
                while proc.poll() is None and time.monotonic() < deadline:
                    sent += tx.send([udp_frame(sent + i, (sent + i) % 16, 1000)
                                     for i in range(200)])
                    time.sleep(0.01)
            err = proc.stderr.read()
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        in_files = {k: capinfos_count(disk / f"w{k}.pcap") for k in (0, 1)}
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    count = {name: int(n) for n, name in re.findall(
        r"^(\d+) packets (captured|received by filter|dropped by kernel|left unread|read from)",
        err, re.M)}
    assert count["captured"] == sum(in_files.values()) > 0, err
    assert count["captured"] + count["dropped by kernel"] + count.get("left unread", 0) \
        + count.get("read from", 0) == count["received by filter"], err
    # the error line: per failed worker, its file and what it could not write
    [line] = [line for line in err.splitlines() if line.startswith("ringcap: capture stopped")]
    failed = re.findall(r"worker (\d) \(pid \d+\) ended early: exit code 1: OSError: \[Errno 28\] "
                        r"writing to \S+ failed: No space left on device.*?; "
                        r"(\d+) packets in its files, (\d+) read but not written", line)
    assert failed, line
    for worker, files, unwritten in failed:
        assert int(files) == in_files[int(worker)], line
    if len(failed) == 2:            # (the other may have been stopped before its disk was full)
        assert count["read from"] == sum(int(unwritten) for *_, unwritten in failed), err
