"""`ringcap --workers N -w 'w{worker}.pcap'` when a worker is killed outright (SIGKILL)."""
import os
import re
import signal
import threading
import time
import warnings

import pytest

from conftest import DEADLINE, RingcapProcess, wait_until
from test_cli_scale import capinfos_count
from test_fanout import udp_frame
from ringcap import TxRing, read_pcap
from ringcap.pcapfile import PcapTruncatedWarning


def worker_writing(parent: int, path) -> int | None:
    """The pid of the child of ``parent`` that has ``path`` open (the worker
    writing that file), or None."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != parent:
                continue
            for fd in os.listdir(f"/proc/{entry}/fd"):
                if os.readlink(f"/proc/{entry}/fd/{fd}") == str(path):
                    return int(entry)
        except (OSError, ValueError, IndexError):
            continue               # gone meanwhile, or not ours to look at
    return None


def read_cut_file(path):
    """Packets in a file a SIGKILL may have cut inside its last record; and
    whether the reader warned of that cut."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        packets = len(read_pcap(path))
    others = [w for w in caught if not issubclass(w.category, PcapTruncatedWarning)]
    assert not others, [str(w.message) for w in others]
    return packets, bool(caught)


def test_a_worker_killed_outright_is_counted_by_what_reached_its_file(veth, tmp_path):
    """A worker killed with SIGKILL cannot send its summary.  The summary
    counted what its ring had delivered by its last report (sent every
    second) as captured, which is not what its file holds: records still in
    its writer's buffer die with it (the last burst here, reported and, before
    workers flushed on a quiet link, never written: the count was too high),
    and packets it wrote after that report were missed.  Now the worker keeps what reached its file in shared
    memory: captured is exactly what the files hold (capinfos for the worker
    that finished; for the killed one N, or up to N+k when the kill cut a
    write short, as the error line says), and received = captured + dropped
    + left unread + read but not written."""
    files = {k: tmp_path / f"w{k}.pcap" for k in (0, 1)}
    cli = RingcapProcess("-i", veth.b, "--workers", "2", "-w", tmp_path / "w{worker}.pcap",
                         "udp", "and", "dst", "port", "9")
    cli.wait_for("listening on")
    stop = threading.Event()
    sent = 0

    def send():                   # flows to both workers until told to stop
        nonlocal sent
        with TxRing(veth.a) as tx:
            while not stop.is_set() and cli.proc.poll() is None:
                sent += tx.send([udp_frame(sent + i, (sent + i) % 16, 200) for i in range(100)])
                time.sleep(0.01)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        victim = wait_until(lambda: worker_writing(cli.proc.pid, files[1]),
                            what="the worker that writes w1.pcap")
        # the pcap header and some records are in the file (not only in its buffer)
        wait_until(lambda: files[1].stat().st_size > 24 + 100 * 216,
                   what="records of worker 1 in its file")
        stop.set()
        sender.join()
        with TxRing(veth.a) as tx:        # a last burst, far less than the writer's buffer
            tx.send([udp_frame(sent + i, i % 16, 200) for i in range(400)])
        time.sleep(2.5)                   # (so that a statistics report counts it)
        os.kill(victim, signal.SIGKILL)
        code = cli.finish(timeout=DEADLINE)       # the pool stops worker 0 by itself
    finally:
        stop.set()
        sender.join()
    err = cli.err
    assert code == 1, err
    assert "Traceback" not in err, err
    count = {name: int(n) for n, name in re.findall(
        r"^(\d+) packets (captured|received by filter|dropped by kernel|left unread|read from)",
        err, re.M)}
    finished = capinfos_count(files[0])
    killed, cut = read_cut_file(files[1])
    share = count["captured"] - finished           # what the summary counts for worker 1
    assert share <= killed, f"{share} packets captured by worker 1, {killed} in its file"
    [line] = [line for line in err.splitlines() if line.startswith("ringcap: capture stopped")]
    match = re.search(
        rf"worker 1 \(pid {victim}\) ended early: killed by SIGKILL; last known statistics: "
        r"\d+ packets, (\d+) delivered, \d+ dropped; (\d+) packets in its files, "
        r"(\d+) read but not written( \(killed during a write: up to (\d+) of those)?", line)
    assert match, line
    delivered, in_files, unwritten = (int(match.group(k)) for k in (1, 2, 3))
    up_to = int(match.group(5) or 0)
    assert share == in_files <= killed <= in_files + up_to, (killed, line)
    assert not cut or up_to, "a record cut short, but no write was under way"
    assert delivered == in_files + unwritten
    assert count.get("read from", 0) == unwritten, err   # worker 0 wrote all it read
    assert count["captured"] + count["dropped by kernel"] + count.get("left unread", 0) \
        + unwritten == count["received by filter"], err
    if unwritten:
        assert "(a worker was killed before writing them)" in err
    assert f"written to 2 files, {files[0]} ... {files[1]}" in err
    assert "ringcap: worker 1 was killed: the counts above hold its last known statistics" in err


def file_linktype(path) -> int:
    """The link type in a pcap file's header."""
    with open(path, "rb") as f:
        header = f.read(24)
    assert len(header) == 24, f"{path}: no pcap header"
    return int.from_bytes(header[20:24], "little")


def test_workers_say_and_write_the_link_type_they_capture(veth, tmp_path):
    """`-i any --workers 2` (and with `-y LINUX_SLL`) said "link-type EN10MB
    (Ethernet)" on its listening line whatever it captured, and a worker
    that got no packet left a file whose header said Ethernet beside its
    sibling's cooked one (mergecap refuses such a pair): each worker's
    file and the line now say the link type the rings capture with, as
    tcpdump's header does for a capture that saw nothing."""
    for extra, linktype, words in (((), 276, "LINUX_SLL2"),
                                   (("-y", "LINUX_SLL"), 113, "LINUX_SLL")):
        folder = tmp_path / words
        folder.mkdir()
        cli = RingcapProcess("-i", "any", *extra, "--workers", "2",
                             "-w", folder / "w{worker}.pcap", "udp", "and", "dst", "port", "9")
        cli.wait_for("listening on")
        code = cli.finish(signal.SIGINT)
        assert code == 0, cli.err
        [line] = [line for line in cli.err.splitlines() if "listening on" in line]
        assert f"link-type {words} " in line, line
        assert "EN10MB" not in line, line
        for k in (0, 1):
            assert file_linktype(folder / f"w{k}.pcap") == linktype, (k, cli.err)


@pytest.mark.parametrize("extra", [[], ["-G", "60"], ["--workers", "2"]],
                         ids=["ring-writer", "rotation", "workers"])
def test_a_stop_signal_while_starting_up_stops_the_capture(tmp_path, extra):
    """SIGTERM sent as soon as the command handles it, while the rings (and
    with --workers, the workers) are still being set up, ends the capture,
    summarised, with status 0.  With --workers the signal was recorded by the
    command's handler, the pool installed its own without looking at it, and
    the capture ran on until killed (a Ctrl-C right after "listening on" hit
    the same window)."""
    for attempt in range(3):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        cli = RingcapProcess("-i", "any", "-y", "LINUX_SLL", *extra,
                             "-w", folder / "w{worker}.pcap", "udp", "and", "dst", "port", "9")
        cli.wait_for_handler(signal.SIGTERM)
        assert cli.finish(signal.SIGTERM, timeout=20) == 0, (attempt, cli.err)
        assert "listening on" in cli.err and "0 packets captured" in cli.err, cli.err
        expected = ["w0.pcap", "w1.pcap"] if extra == ["--workers", "2"] else ["w{worker}.pcap"]
        assert sorted(p.name for p in folder.iterdir()) == expected, cli.err

@pytest.mark.parametrize("output", [["-w", "w{worker}.pcap"], ["--format", "parquet", "-w", "ds/"]])
def test_a_count_with_files_written_by_each_worker_is_refused(veth, tmp_path, output):
    """-c with --workers where each worker writes its own files was ignored: the
    capture ran on past the count until a signal (100,000 packets in the files
    for -c 30000).  No process sees the count there, so it is refused before
    anything is opened, as capture_to_file_parallel refuses count=."""
    output = [str(tmp_path / word) if word.endswith(("/", ".pcap")) else word
              for word in output]
    cli = RingcapProcess("-i", veth.b, "--workers", "2", "-c", "5", *output)
    wait_until(lambda: cli.proc.poll() is not None or "listening on" in cli.err,
               what="ringcap to refuse or to start")
    listening = "listening on" in cli.err
    code = cli.finish(signal.SIGINT if listening else None)
    assert not listening and code == 2, cli.err
    assert "ringcap: -c needs the packets written by one process; with --workers" in cli.err
    assert os.listdir(tmp_path) == []
