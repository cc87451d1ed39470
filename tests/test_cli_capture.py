"""`ringcap capture` as a tcpdump user runs it: a real subprocess on a veth pair.

Signals mid-capture (on a terminal and on a pipe), rotation, streaming to
stdout, the status line, errors, memory, and the tcpdump flags.  Every file
is checked with tcpdump and tshark against the count the summary printed.
"""
import os
import pty
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import warnings

import pytest

import ringcap
from conftest import (DEADLINE, TEST_ETHERTYPE, RingcapProcess, Tap, frame_seq, make_frame,
                      rings_bound_to, sh, wait_until)
from ringcap import TxRing, open_pcap, read_pcap

PACKAGE_ROOT = os.path.dirname(os.path.dirname(ringcap.__file__))
ENV = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
OURS = ["ether", "proto", hex(TEST_ETHERTYPE)]


class Cli(RingcapProcess):
    """A running `python -m ringcap ...` (conftest.RingcapProcess) with tcpdump's summary."""

    def summary_count(self, what="captured") -> int:
        match = re.search(rf"(\d+) packets {what}", self.err)
        assert match, self.err
        return int(match.group(1))


def tcpdump_count(path) -> int:
    out = subprocess.run(["tcpdump", "-nn", "-r", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # unknown ethertypes get a hex dump on indented lines: count the packet lines
    return sum(1 for line in out.stdout.splitlines() if not line.startswith(("\t", " ")))


def tshark_count(path) -> int:
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return len(out.stdout.split())


def file_seqs(paths) -> list:
    return [frame_seq(p) for path in paths for p in read_pcap(path).packets()]


def send(iface, frames, chunk=2000, **options):
    with TxRing(iface, **options) as tx:
        for i in range(0, len(frames), chunk):
            tx.send(frames[i:i + chunk])


class Sender(threading.Thread):
    """Keeps sending numbered frames until stopped."""

    def __init__(self, iface, start_seq=0, size=200):
        super().__init__(daemon=True)
        self.iface, self.seq, self.size = iface, start_seq, size
        self.running = True

    def run(self):
        with TxRing(self.iface) as tx:
            while self.running:
                tx.send([make_frame(self.seq + i, self.size) for i in range(200)])
                self.seq += 200
                time.sleep(0.002)

    def stop(self):
        self.running = False
        if self.ident is not None:          # (started)
            self.join()


# ---------------------------------------------------------------------- signals
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("tty", [False, True], ids=["pipe", "pty"])
def test_signal_mid_capture_leaves_a_complete_file_with_the_summary_count(veth, tmp_path,
                                                                          sig, tty):
    path = tmp_path / ("out.pcapng" if sig != signal.SIGTERM else "out.pcap")
    cli = Cli("-i", veth.b, "-w", str(path), *OURS, tty=tty)
    cli.wait_for("listening on")
    sender = Sender(veth.a)
    try:
        with Tap(veth.b) as tap:
            sender.start()
            tap.wait_for(1000)              # mid-stream: packets in flight when it lands
            code = cli.finish(sig)
    finally:
        sender.stop()
    assert code == 0, cli.err
    captured = cli.summary_count()
    assert captured >= 200
    assert tcpdump_count(path) == captured == tshark_count(path)
    seqs = file_seqs([path])
    dropped = cli.summary_count("dropped by kernel")
    if dropped == 0:
        assert seqs == list(range(seqs[0], seqs[0] + captured))   # no gap, no duplicate
    if path.suffix == ".pcapng":
        with open_pcap(path) as reader:
            for _ in reader:
                pass
            last = reader.stats[-1]           # the statistics block is there
        assert last.received == cli.summary_count("received by filter")
        assert last.os_dropped == dropped


def test_second_ctrl_c_while_finishing_does_not_corrupt(veth, tmp_path):
    path = tmp_path / "twice.pcapng"
    cli = Cli("-i", veth.b, "-w", str(path), *OURS)
    cli.wait_for("listening on")
    sender = Sender(veth.a, size=1000)
    try:
        with Tap(veth.b) as tap:
            sender.start()
            tap.wait_for(1000)
        cli.proc.send_signal(signal.SIGINT)
        time.sleep(0.01)                    # the second one lands while it finishes
        code = cli.finish(signal.SIGINT)
    finally:
        sender.stop()
    assert code == 0, cli.err
    captured = cli.summary_count()
    assert tcpdump_count(path) == captured > 0
    with open_pcap(path, strict=True) as reader:
        assert sum(len(b) for b in reader) == captured and reader.stats


def test_runs_until_interrupted_and_prints_tcpdumps_summary(veth, tmp_path):
    path = tmp_path / "plain.pcap"
    cli = Cli("-i", veth.b, "-w", str(path), *OURS)
    cli.wait_for("listening on")
    with Tap(veth.b) as tap:
        send(veth.a, [make_frame(i, 100) for i in range(500)])
        tap.wait_for(500)                   # ringcap's ring has them too
    assert cli.proc.poll() is None          # no -c, no duration: it keeps going
    assert cli.finish(signal.SIGINT) == 0
    assert f"listening on {veth.b}, link-type EN10MB (Ethernet), snapshot length 262144" in cli.err
    for line in ("500 packets captured", "500 packets received by filter",
                 "0 packets dropped by kernel", "0 packets dropped by interface",
                 f"written to {path}"):
        assert line in cli.err
    assert file_seqs([path]) == list(range(500))


# ---------------------------------------------------------------------- rotation
def test_size_rotation_splits_without_loss_or_duplicate(veth, tmp_path):
    frames = [make_frame(i, 500) for i in range(1000)]
    cli = Cli("-i", veth.b, "-c", "1000", "-C", "0.05", "-w", str(tmp_path / "c.pcap"), *OURS)
    cli.wait_for("listening on")
    send(veth.a, frames)
    assert cli.finish() == 0, cli.err
    names = sorted(os.listdir(tmp_path), key=lambda n: (len(n), n))
    assert names[:3] == ["c.pcap", "c.pcap1", "c.pcap2"] and len(names) >= 10
    for name in names:
        assert os.path.getsize(tmp_path / name) <= 50_000
    assert file_seqs([tmp_path / n for n in names]) == list(range(1000))
    assert sum(tcpdump_count(tmp_path / n) for n in names) == 1000 == cli.summary_count()


def test_file_ring_keeps_the_newest_files(veth, tmp_path):
    frames = [make_frame(i, 500) for i in range(1000)]
    cli = Cli("-i", veth.b, "-c", "1000", "-C", "0.05", "-W", "3", "-w",
              str(tmp_path / "r.pcap"), *OURS)
    cli.wait_for("listening on")
    send(veth.a, frames)
    assert cli.finish() == 0, cli.err
    assert sorted(os.listdir(tmp_path)) == ["r.pcap0", "r.pcap1", "r.pcap2"]
    seqs = sorted(file_seqs([tmp_path / n for n in os.listdir(tmp_path)]))
    assert seqs == list(range(1000 - len(seqs), 1000)) and 200 < len(seqs) < 400


@pytest.mark.parametrize("options", [("-W", "3"), ("-G", "0", "-W", "3")], ids=" ".join)
def test_a_file_count_without_rotation_writes_the_one_file_as_tcpdump(veth, tmp_path, options):
    """tcpdump 4.99 takes -W without -C or -G (and -G 0 -W 3) and writes the
    one file -w names; ringcap refused -W alone, and -G 0 -W 3 captured
    nothing: 'a file count (-W) needs size (-C), time (-G) or packet rotation'."""
    cli = Cli("-i", veth.b, "-c", "100", *options, "-w", str(tmp_path / "w.pcap"), *OURS)
    cli.wait_for("listening on")
    send(veth.a, [make_frame(i, 200) for i in range(100)])
    assert cli.finish() == 0, cli.err
    assert os.listdir(tmp_path) == ["w.pcap"]
    assert file_seqs([tmp_path / "w.pcap"]) == list(range(100)) and cli.summary_count() == 100


def test_time_rotation_with_a_file_limit_and_post_rotate_command(veth, tmp_path):
    template = str(tmp_path / "g-%Y%m%d-%H%M%S.pcap")
    cli = Cli("-i", veth.b, "-G", "1", "-W", "2", "-z", "gzip", "-w", template, *OURS)
    cli.wait_for("listening on")
    sender = Sender(veth.a)
    sender.start()
    try:
        code = cli.finish(timeout=DEADLINE)     # stops by itself after 2 files
    finally:
        sender.stop()
    assert code == 0, cli.err
    assert "maximum file limit reached: 2" in cli.err
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 2 and all(re.fullmatch(r"g-\d{8}-\d{6}\.pcap\.gz", n) for n in names)
    for name in names:
        subprocess.run(["gunzip", str(tmp_path / name)], check=True)
    paths = sorted(tmp_path.iterdir())
    seqs = file_seqs(paths)
    assert seqs == sorted(set(seqs)) and len(seqs) == cli.summary_count()
    if cli.summary_count("dropped by kernel") == 0:     # (a loaded machine may drop some)
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    first = read_pcap(paths[0])
    second = read_pcap(paths[1])
    # (microsecond pcap: truncating both ends can make a span just under 1 s exactly 1 s)
    assert int(second.ts[0]) - int(first.ts[0]) >= 10**9 >= int(first.ts[-1]) - int(first.ts[0])


def test_owner_of_the_files(veth, tmp_path):
    path = tmp_path / "owned.pcap"
    cli = Cli("-i", veth.b, "-c", "5", "-Z", "nobody", "-w", str(path), *OURS)
    cli.wait_for("listening on")
    send(veth.a, [make_frame(i) for i in range(5)])
    assert cli.finish() == 0, cli.err
    st = os.stat(path)
    assert (st.st_uid, oct(st.st_mode & 0o777)) == (65534, "0o600")


def test_minus_Z_never_gives_a_device_away(veth, tmp_path):
    """`-w /dev/null -Z USER` writes to the device but leaves it root's (tcpdump
    chowns it: a machine where Debian's tcpdump wrote to /dev/null has a
    /dev/null owned by `tcpdump`).  A null device made for the test stands in."""
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.chmod(null, 0o666)
    cli = Cli("-i", veth.b, "-c", "5", "-Z", "nobody", "-w", str(null), *OURS)
    cli.wait_for("listening on")
    send(veth.a, [make_frame(i) for i in range(5)])
    assert cli.finish() == 0, cli.err
    assert "5 packets captured" in cli.err
    st = os.stat(null)
    assert (st.st_uid, st.st_gid, oct(st.st_mode & 0o777)) == (0, 0, "0o666")


@pytest.fixture
def nobodys_folder():
    """A folder the nobody user owns (pytest's tmp_path is root's, 0700)."""
    import shutil
    import tempfile
    folder = tempfile.mkdtemp(prefix="ringcap-nobody-", dir="/tmp")
    os.chown(folder, 65534, 65534)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def proc_ids(pid) -> dict:
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f.read().splitlines())
    return {key: fields[key].split() for key in ("Uid", "Gid", "Groups", "CapEff", "CapPrm")}


def test_minus_Z_gives_up_root_and_rotation_and_z_go_on_as_that_user(veth, nobodys_folder):
    import pwd
    log = os.path.join(nobodys_folder, "z.log")
    script = os.path.join(nobodys_folder, "whoami.sh")
    with open(script, "w") as f:
        f.write(f'#!/bin/sh\necho "$(id -u) $(id -g) $1" >> {log}\n')
    os.chmod(script, 0o755)
    template = os.path.join(nobodys_folder, "c.pcap")
    cli = Cli("-i", veth.b, "-Z", "nobody", "-C", "0.05", "-z", script, "-w", template, *OURS)
    cli.wait_for("listening on")
    ids = proc_ids(cli.proc.pid)            # the running capture, after the ring and file opened
    groups = sorted(str(g) for g in os.getgrouplist("nobody", pwd.getpwnam("nobody").pw_gid))
    assert ids["Uid"] == ["65534"] * 4 and ids["Gid"] == ["65534"] * 4, ids
    assert sorted(ids["Groups"]) == groups, ids
    assert int(ids["CapEff"][0], 16) == 0 == int(ids["CapPrm"][0], 16), ids
    send(veth.a, [make_frame(i, 500) for i in range(1000)])
    deadline = time.monotonic() + 30
    while len(os.listdir(nobodys_folder)) < 12 and time.monotonic() < deadline:
        time.sleep(0.05)                    # rotation as nobody: c.pcap1 ... c.pcap10
    assert cli.finish(signal.SIGINT) == 0, cli.err
    assert "dropped privileges to nobody (uid 65534, gid 65534)" in cli.err
    names = sorted((n for n in os.listdir(nobodys_folder) if n.startswith("c.pcap")),
                   key=lambda n: (len(n), n))
    assert names[:3] == ["c.pcap", "c.pcap1", "c.pcap2"] and len(names) >= 10, names
    paths = [os.path.join(nobodys_folder, n) for n in names]
    for path in paths:
        st = os.stat(path)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (65534, 65534, 0o600), path
    captured = cli.summary_count()
    assert captured + cli.summary_count("dropped by kernel") == \
        cli.summary_count("received by filter") == 1000
    assert len(file_seqs(paths)) == captured
    with open(log) as f:
        runs = [line.split() for line in f.read().splitlines()]
    assert sorted(path for _, _, path in runs) == sorted(paths)       # each file once
    assert {(uid, gid) for uid, gid, _ in runs} == {("65534", "65534")}  # -z ran as nobody


def test_minus_Z_refusals_are_one_line(veth, tmp_path):
    # later files would be created as nobody, in a folder only root may write: refused up front
    proc = run_once("-i", veth.b, "-Z", "nobody", "-C", "1", "-w", str(tmp_path / "r.pcap"))
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "who cannot create files in" in proc.stderr and str(tmp_path) in proc.stderr
    proc = run_once("-i", veth.b, "-Z", "nobody", "--workers", "2", "-w", str(tmp_path / "w.pcap"))
    assert proc.returncode == 2 and "-Z is not available with --workers" in proc.stderr
    assert os.listdir(tmp_path) == []        # nothing made before the refusals
    # without rotation the one file is made before the drop: a root-only folder is fine; a -z
    # command there runs as nobody too, so a script only root may run cannot start: said so
    script = tmp_path / "root-only.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o700)
    cli = Cli("-i", veth.b, "-Z", "nobody", "-c", "3", "-z", str(script),
              "-w", str(tmp_path / "one.pcap"), *OURS)
    cli.wait_for("listening on")
    assert proc_ids(cli.proc.pid)["Uid"] == ["65534"] * 4
    send(veth.a, [make_frame(i) for i in range(3)])
    assert cli.finish() == 0, cli.err
    assert "warning: -z runs as nobody, who cannot create files in" in cli.err
    assert f"-z {script} {tmp_path / 'one.pcap'} exited with status 126" in cli.err
    assert os.stat(tmp_path / "one.pcap").st_uid == 65534
    assert file_seqs([tmp_path / "one.pcap"]) == [0, 1, 2]


def test_minus_Z_with_a_dataset_from_an_installation_only_root_can_read(veth, nobodys_folder):
    """A venv under /root (or CI's 0700 temporary folder): after the drop nothing more can
    be imported, and writing Parquet imports much of pyarrow on first use."""
    import shutil
    import tempfile
    import pyarrow.parquet as pq
    hidden = tempfile.mkdtemp(prefix="ringcap-root-only-")          # 0700, root's
    try:
        os.symlink(PACKAGE_ROOT, os.path.join(hidden, "src"))
        python = sys.executable
        if sys.prefix != sys.base_prefix:                            # the venv, behind it too
            os.symlink(sys.prefix, os.path.join(hidden, "env"))
            python = os.path.join(hidden, "env", "bin", os.path.basename(sys.executable))
        env = {**os.environ, "PYTHONPATH": os.path.join(hidden, "src")}
        root = os.path.join(nobodys_folder, "ds")
        cli = Cli("-i", veth.b, "-Z", "nobody", "--format", "parquet", "-w", root + "/", *OURS,
                  python=python, env=env)
        cli.wait_for("listening on")
        assert proc_ids(cli.proc.pid)["Uid"] == ["65534"] * 4
        with Tap(veth.b) as tap:
            send(veth.a, [make_frame(i, 100) for i in range(200)])
            tap.wait_for(200)                   # ringcap's ring has had all 200 too
        assert cli.finish(signal.SIGINT) == 0, cli.err
    finally:
        shutil.rmtree(hidden)
    captured = cli.summary_count()
    assert "Traceback" not in cli.err and captured > 0, cli.err
    assert captured + cli.summary_count("dropped by kernel") == 200, cli.err
    files = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
    assert files and all(os.stat(f).st_uid == 65534 for f in files)
    assert not any(".inprogress" in f for f in files)
    assert pq.read_table(root).num_rows == captured


def test_post_rotate_commands_start_outside_the_loop_within_the_bound(veth, tmp_path):
    log, go = tmp_path / "z.log", tmp_path / "go"
    script = tmp_path / "slow.sh"
    # The first file's command holds the only slot until the test says go: the capture
    # must go on reading and rotating meanwhile, so the loop never waits on a child.
    script.write_text(f"""#!/bin/sh
echo "start $1" >> {log}
if [ "$(basename "$1")" = z.pcap ]; then
    i=0
    while [ ! -e {go} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
fi
sleep 0.1
echo "end $1" >> {log}
""")
    script.chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    cli = Cli("-i", veth.b, "-C", "0.05", "-z", str(script), "--post-rotate-jobs", "1",
              "-w", str(out / "z.pcap"), *OURS)
    cli.wait_for("listening on")
    send(veth.a, [make_frame(i, 500) for i in range(1000)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
            log.exists() and len(os.listdir(out)) >= 8):
        time.sleep(0.05)
    holding = log.read_text().splitlines() if log.exists() else []
    opened = len(os.listdir(out))
    go.touch()
    assert holding == [f"start {out / 'z.pcap'}"] and opened >= 8, (holding, opened, cli.err)
    assert cli.finish(signal.SIGINT, timeout=60) == 0, cli.err
    captured, dropped = cli.summary_count(), cli.summary_count("dropped by kernel")
    assert captured + dropped == cli.summary_count("received by filter") == 1000
    files = sorted(str(out / n) for n in os.listdir(out))
    assert len(file_seqs(files)) == captured and len(files) >= 10
    running = peak = 0
    started = []
    for line in log.read_text().splitlines():
        what, path = line.split(" ", 1)
        running += 1 if what == "start" else -1
        peak = max(peak, running)
        if what == "start":
            started.append(path)
    assert sorted(started) == files                 # every finished file handed over once
    assert peak == 1 and running == 0               # never more than the bound
    assert cli.err.count("the limit (--post-rotate-jobs)") == 1
    waited = int(re.search(r"-z: (\d+) of (\d+) files waited", cli.err).group(1))
    assert 0 < waited < len(files)


# ---------------------------------------------------------------------- streams
def test_write_to_stdout_into_tcpdump(veth, tmp_path):
    cli = Cli("-i", veth.b, "-c", "100", "-w", "-", *OURS, stdout=subprocess.PIPE)
    reader = subprocess.Popen(["tcpdump", "-nn", "-r", "-"], stdin=cli.proc.stdout,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cli.wait_for("listening on")
    send(veth.a, [make_frame(i, 80) for i in range(100)])
    out, err = reader.communicate(timeout=30)
    assert cli.finish() == 0
    lines = [l for l in out.splitlines() if not l.startswith("\t")]
    assert len(lines) == 100 and all("ethertype Unknown (0x88b5)" in l for l in lines)
    assert "100 packets captured" in cli.err


def test_status_line_on_a_terminal_only(veth, tmp_path):
    runs = {}
    for tty in (True, False):
        cli = Cli("-i", veth.b, "-w", str(tmp_path / f"s{tty}.pcap"), *OURS, tty=tty)
        cli.wait_for("listening on")
        with Tap(veth.b) as tap:
            send(veth.a, [make_frame(i) for i in range(300)])
            tap.wait_for(300)
        if tty:
            cli.wait_for("\r300 packets")        # redrawn about twice a second
        else:
            time.sleep(1.3)                    # long enough for a status line to be drawn
        assert cli.finish(signal.SIGINT) == 0
        runs[tty] = cli.err
    assert re.search(r"\r300 packets .*drops: 0 kernel, 0 interface .*-> \S*sTrue\.pcap", runs[True])
    assert "\r" not in runs[False] and "drops:" not in runs[False]
    assert "300 packets captured" in runs[False]


def test_printing_packets_without_w(veth):
    cli = Cli("-i", veth.b, "-c", "3", "-e", *OURS, stdout=subprocess.PIPE)
    cli.wait_for("listening on")
    send(veth.a, [make_frame(i, 64) for i in range(3)])
    out = cli.proc.stdout.read().decode()
    assert cli.finish() == 0, cli.err
    lines = [l for l in out.splitlines() if not l.startswith("\t")]   # not the hex dump
    assert len(lines) == 3
    assert all("02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype Unknown (0x88b5), length 64"
               in l for l in lines)
    assert "3 packets captured" in cli.err


# ---------------------------------------------------------------------- errors
def run_once(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "ringcap", *args], cwd="/", env=ENV,
                          capture_output=True, text=True, timeout=30, **kwargs)


def test_every_error_is_one_line_and_non_zero(veth, tmp_path):
    filter_file = tmp_path / "missing.txt"
    cases = {
        ("-i", "nosuch0", "-w", str(tmp_path / "a.pcap")): "ringcap -D",
        ("-i", veth.b, "tcp", "port", "port"): "syntax error",
        ("-i", veth.b, "-C", "10X", "-w", str(tmp_path / "b.pcap")): "invalid file size 10X",
        ("-i", veth.b, "-G", "-1", "-w", str(tmp_path / "c.pcap")): "invalid number of seconds",
        ("-i", veth.b, "-W", "3"): "-C, -G, -W and -z apply to files: add -w FILE",
        ("-i", veth.b, "-w", str(tmp_path / "no" / "e.pcap")): "does not exist",
        ("-i", veth.b, "-w", str(tmp_path)): "is a directory",
        ("-i", veth.b, "-Z", "no-such-user-x", "-w", str(tmp_path / "f.pcap")): "unknown user",
        ("-i", veth.b, "-F", str(filter_file)): "filter file",
        ("-i", veth.b, "-z", "no-such-cmd-x", "-w", str(tmp_path / "g.pcap")): "not found",
        ("-i", veth.b, "-s", "300000"): "snaplen",
        ("-i", veth.b, "--duration", "nan"): "duration",
        ("-i", veth.b, "-c", "0"): "packet count",
        ("-i", veth.b, "-B", "lots"): "invalid packet buffer size lots",
        ("-i", veth.b, "-w", ""): "-w needs a file name",     # (printed the packets instead)
    }
    for args, words in cases.items():
        proc = run_once(*args)
        assert proc.returncode != 0, args
        assert proc.stderr.startswith("ringcap: ") and words in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr, args
    assert not os.path.exists(tmp_path / "a.pcap")        # nothing left behind
    debug = run_once("-i", "nosuch0", "-w", str(tmp_path / "a.pcap"), "--debug")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_missing_libpcap_and_no_privilege_are_one_line(veth, tmp_path):
    code = ("import sys, ringcap.libpcap as libpcap\n"
            "def missing(): raise RuntimeError('compiling a tcpdump-syntax filter needs libpcap, "
            "which was not found; install it')\n"
            "libpcap.load = missing\n"
            "from ringcap.cli import main\n"
            f"sys.exit(main(['-i', '{veth.b}', 'udp']))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd="/", env=ENV, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "needs libpcap" in proc.stderr and "Traceback" not in proc.stderr
    # Root with every capability dropped: the same EPERM an unprivileged user gets, while the
    # installed package stays readable (CI's venv sits in a 0700 mktemp directory that the
    # nobody user cannot enter).
    setpriv = ["setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all"]
    proc = subprocess.run([*setpriv, sys.executable, "-m", "ringcap", "-i", veth.b, "-c", "1"],
                          cwd="/", env=ENV, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "CAP_NET_RAW" in proc.stderr
    # the interpreter named is the real file, not the venv's symlink setcap refuses
    named = re.search(r"sudo setcap cap_net_raw=eip (\S+)", proc.stderr).group(1)
    assert os.path.realpath(named) == os.path.realpath(sys.executable)
    assert not os.path.islink(os.path.dirname(named) + "/" + os.path.basename(named)) or \
        named != sys.executable


# ---------------------------------------------------------------------- flags
def test_snaplen_precision_and_format_reach_the_file(veth, tmp_path):
    frames = [make_frame(i, 300) for i in range(20)]
    runs = {"micro.pcap": ("-s", "96"), "nano.pcap": ("--time-stamp-precision", "nano"),
            "ng.pcapng": ("-s", "128")}
    for name, extra in runs.items():
        cli = Cli("-i", veth.b, "-c", "20", *extra, "-w", str(tmp_path / name), *OURS)
        cli.wait_for("listening on")
        send(veth.a, frames)
        assert cli.finish() == 0, cli.err
    with open(tmp_path / "micro.pcap", "rb") as f:
        header = f.read(24)
    assert header[:4] == bytes.fromhex("d4c3b2a1")           # microseconds, as tcpdump
    assert int.from_bytes(header[16:20], "little") == 96      # the snaplen used
    micro = read_pcap(tmp_path / "micro.pcap")
    assert micro.caplen.tolist() == [96] * 20 and micro.wirelen.tolist() == [300] * 20
    with open(tmp_path / "nano.pcap", "rb") as f:
        assert f.read(4) == bytes.fromhex("4d3cb2a1")
    with open_pcap(tmp_path / "ng.pcapng") as reader:
        batch = reader.read()
        assert reader.format == "pcapng" and reader.interfaces[0].snaplen == 128
        assert reader.interfaces[0].name == veth.b
    assert batch.caplen.tolist() == [128] * 20


def test_filter_file_direction_and_promiscuous_mode(veth, tmp_path):
    (tmp_path / "f.txt").write_text(f"# our frames only\nether proto {hex(TEST_ETHERTYPE)}\n")
    # -Q out on the receiving end sees only what it sends; -Q in only what it receives
    results = {}
    for direction in ("in", "out"):
        path = tmp_path / f"{direction}.pcap"
        cli = Cli("-i", veth.b, "-Q", direction, "-F", str(tmp_path / "f.txt"), "-w", str(path))
        cli.wait_for("listening on")
        with Tap(veth.b, filter=None) as tap:
            send(veth.a, [make_frame(i, 70) for i in range(10)])              # in on b
            send(veth.b, [make_frame(100 + i, 70) for i in range(5)],          # out of b, seen
                 qdisc_bypass=False)                                       # by packet sockets
            send(veth.a, [make_frame(0, 70, ethertype=TEST_ETHERTYPE + 1)] * 3)   # not ours
            tap.wait_for(18)
        assert cli.finish(signal.SIGINT) == 0, cli.err
        results[direction] = sorted(file_seqs([path]))
    assert results == {"in": list(range(10)), "out": list(range(100, 105))}

    def promiscuity(*flags):
        cli = Cli("-i", veth.b, *flags, "-w", str(tmp_path / "p.pcap"))
        cli.wait_for("listening on")
        value = int(re.search(r"promiscuity (\d+)", sh(f"ip -d link show {veth.b}")).group(1))
        assert cli.finish(signal.SIGINT) == 0
        return value

    assert promiscuity() == 1 and promiscuity("-p") == 0


def test_list_interfaces_and_ring_size(veth, tmp_path):
    proc = run_once("-D")
    assert proc.returncode == 0
    line = next(l for l in proc.stdout.splitlines() if f".{veth.b} [" in l)
    assert line.endswith(f".{veth.b} [Up, Running, Connected] link-type EN10MB (Ethernet), "
                         f"ifindex {veth.index_b}, mtu 9000")
    assert any(re.fullmatch(r"\d+\.any \(Pseudo-device that captures on all interfaces\) "
                            r"\[Up, Running\] link-type LINUX_SLL2 \(Linux cooked v2\)", l)
               for l in proc.stdout.splitlines())
    cli = Cli("-i", veth.b, "-B", "4096", "-w", str(tmp_path / "b.pcap"))
    cli.wait_for("listening on")
    assert cli.finish(signal.SIGINT) == 0
    assert "ring 8 x 512 KiB" in cli.err                     # -B 4096 KiB = 4 MiB


def tcpdump_minus_d() -> list[str]:
    """Names in `tcpdump -D` order, up to libpcap's pseudo-devices (which ringcap leaves out)."""
    out = subprocess.run(["tcpdump", "-D"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    names = [re.match(r"\d+\.(\S+)", l).group(1) for l in out.stdout.splitlines()]
    pseudo = ("nflog", "nfqueue", "usbmon", "bluetooth", "dbus")
    return names[:next(i for i, n in enumerate(names + ["nflog"]) if n.startswith(pseudo))]


def ringcap_minus_d() -> list[str]:
    proc = run_once("-D")
    assert proc.returncode == 0, proc.stderr
    return [re.match(r"(\d+)\.(\S+)", l).group(2) for l in proc.stdout.splitlines()]


def test_no_interface_captures_on_the_one_tcpdump_picks(veth, tmp_path):
    # tcpdump without -i: the first of pcap_findalldevs (up, running, not loopback first)
    tcpdump = subprocess.Popen(["tcpdump", "-c", "1", "-w", str(tmp_path / "t.pcap")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = tcpdump.stderr.readline()
    tcpdump.send_signal(signal.SIGINT)
    tcpdump.communicate(timeout=30)
    theirs = re.match(r"tcpdump: listening on (\S+),", line).group(1)
    assert theirs in (veth.a, veth.b), line
    cli = Cli("-c", "1", "-w", str(tmp_path / "r.pcap"), *OURS)
    cli.wait_for("listening on")
    ours = re.search(r"listening on (\S+),", cli.err).group(1)
    assert ours == theirs == ringcap_minus_d()[0]
    send(veth.a if ours == veth.b else veth.b, [make_frame(7)])
    assert cli.finish() == 0, cli.err
    assert file_seqs([tmp_path / "r.pcap"]) == [7]


def test_an_interface_number_from_minus_d_as_in_tcpdump(veth, tmp_path):
    ours = ringcap_minus_d()
    theirs = tcpdump_minus_d()
    assert ours[:len(theirs)] == theirs and veth.b in theirs       # the same numbers
    number = str(ours.index(veth.b) + 1)
    cli = Cli("-i", number, "-c", "3", "-w", str(tmp_path / "n.pcap"), *OURS)
    cli.wait_for("listening on")
    assert f"listening on {veth.b}," in cli.err
    send(veth.a, [make_frame(i) for i in range(3)])
    assert cli.finish() == 0, cli.err
    assert file_seqs([tmp_path / "n.pcap"]) == [0, 1, 2]
    any_number = str(ours.index("any") + 1)
    cli = Cli("-i", any_number, "-c", "1", "-w", str(tmp_path / "a.pcap"), *OURS)
    cli.wait_for("listening on")
    assert "listening on any," in cli.err
    send(veth.a, [make_frame(9)])
    assert cli.finish() == 0, cli.err
    proc = run_once("-i", str(len(ours) + 1), "-c", "1")
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert f"no interface number {len(ours) + 1}" in proc.stderr and "ringcap -D" in proc.stderr


def test_memory_stays_flat_over_a_long_capture(veth, tmp_path):
    path = tmp_path / "long.pcap"
    cli = Cli("-i", veth.b, "-B", "16M", "-w", str(path), *OURS)
    cli.wait_for("listening on")

    def rss_kib():
        with open(f"/proc/{cli.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    frames = [make_frame(i, 1400) for i in range(20000)]     # 28 MB a round
    samples = []
    # Drops are legitimate on a loaded machine: send rounds until 150 MB have reached the
    # file (at least 6 rounds), however many that takes, and assert the accounting.
    deadline = time.monotonic() + 180
    while len(samples) < 6 or os.path.getsize(path) <= 150 * 10**6:
        assert time.monotonic() < deadline, (samples, os.path.getsize(path))
        send(veth.a, frames)
        samples.append(rss_kib())
    with open(f"/proc/{cli.proc.pid}/status") as f:
        peak = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
    assert cli.finish(signal.SIGINT) == 0
    captured = cli.summary_count()
    received = cli.summary_count("received by filter")
    assert captured + cli.summary_count("dropped by kernel") == received <= 20000 * len(samples)
    assert os.path.getsize(path) == 24 + captured * (16 + 1400) > 150 * 10**6
    assert samples[-1] - samples[1] < 8 * 1024, samples          # flat after warm-up
    assert peak < (16 + 64) * 1024 + 60 * 1024, peak             # ring + 64 MiB + interpreter


def test_interface_removed_mid_capture_keeps_the_file_and_says_so(netns, tmp_path):
    from conftest import VethPair
    pair = VethPair()
    path = tmp_path / "gone.pcapng"
    try:
        cli = Cli("-i", pair.b, "-w", str(path), *OURS)
        cli.wait_for("listening on")
        with Tap(pair.b) as tap:
            send(pair.a, [make_frame(i, 100) for i in range(1000)])
            tap.wait_for(1000)
    finally:
        pair.delete()
    assert cli.finish() == 1
    last = cli.err.strip().splitlines()[-1]
    assert last.startswith("ringcap: capture stopped: ") and pair.b in last
    assert "Traceback" not in cli.err
    assert cli.summary_count() == 1000 == tcpdump_count(path)
    assert file_seqs([path]) == list(range(1000))


def test_capture_to_file_returns_its_summary_on_sigterm_with_rotation_and_owner(veth, tmp_path):
    """The library's capture_to_file keeps the command's promises: SIGTERM is a clean stop,
    rotation splits exactly, every pcapng file ends with the ring's counts."""
    script = (
        "import ringcap, sys\n"
        f"s = ringcap.capture_to_file({veth.b!r}, {str(tmp_path / 'lib.pcapng')!r},\n"
        "    file_size=200_000, owner='nobody', progress=False,\n"
        "    ring_options={'filter': 'ether proto 0x88b5'})\n"
        "print(s.stopped_by, s.packets, s.received, s.drops, len(s.files), flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd="/", env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: rings_bound_to(veth.index_b) or proc.poll() is not None,
                   what="capture_to_file's ring to open")
        with Tap(veth.b) as tap:
            send(veth.a, [make_frame(i, 500) for i in range(3000)])
            tap.wait_for(3000)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    stopped_by, packets, received, drops, files = out.split()
    assert (stopped_by, int(packets), int(received), int(drops)) == ("SIGTERM", 3000, 3000, 0)
    paths = sorted(tmp_path.iterdir(), key=lambda p: (len(p.name), p.name))
    assert len(paths) == int(files) > 5
    assert file_seqs(paths) == list(range(3000))
    for path in paths:
        assert os.stat(path).st_uid == 65534 and os.path.getsize(path) <= 200_000
        with open_pcap(path) as reader:
            for _ in reader:
                pass
            assert reader.stats and reader.stats[-1].dropped == 0
    with open_pcap(paths[-1]) as reader:
        for _ in reader:
            pass
        assert reader.stats[-1].received == 3000


def test_reader_of_the_stream_going_away_ends_the_capture_cleanly(veth):
    cli = Cli("-i", veth.b, "-w", "-", *OURS, stdout=subprocess.PIPE)
    cli.wait_for("listening on")
    send(veth.a, [make_frame(i, 100) for i in range(100)])
    head = cli.proc.stdout.read(24 + 116)          # the header and the first packet, like head -c
    assert head[:4] == bytes.fromhex("d4c3b2a1") and frame_seq(head[24 + 16:]) == 0
    cli.proc.stdout.close()                        # the reader exits
    deadline = time.monotonic() + 20
    while cli.proc.poll() is None and time.monotonic() < deadline:
        send(veth.a, [make_frame(i, 100) for i in range(100)])   # the next write fails
        time.sleep(0.1)
    assert cli.finish() == 0, cli.err
    assert "packets captured" in cli.err and "Traceback" not in cli.err
    # every packet the filter passed is accounted for: written, dropped, unread or not written
    count = {name: int(n) for n, name in re.findall(
        r"^(\d+) packets (captured|received by filter|dropped by kernel|left unread|read from)",
        cli.err, re.M)}
    assert count.get("read from", 0) > 0, cli.err          # the write that failed lost these
    assert count["captured"] + count["dropped by kernel"] + count.get("left unread", 0) \
        + count["read from"] == count["received by filter"], cli.err


@pytest.mark.parametrize("name, into", [("/dev/stdout", "pipe"), ("/dev/fd/1", "file"),
                                         ("/proc/self/fd/1", "file")])
def test_w_dev_stdout_writes_to_the_open_descriptor_as_tcpdump_does(veth, tmp_path, name, into):
    """`tcpdump -w /dev/stdout | ...`: the system's descriptor links are
    followed (a link planted elsewhere never is: test_pcap_writer_reliability);
    they were refused as "a symbolic link" before."""
    frames = [make_frame(i, 60 + i * 300) for i in range(5)]
    path = tmp_path / "out.pcap"
    with open(path, "wb") as out:
        cli = Cli("-i", veth.b, "-c", len(frames), "-w", name, *OURS,
                  stdout=subprocess.PIPE if into == "pipe" else out)
        cli.wait_for("listening on")
        send(veth.a, frames)
        if into == "pipe":
            out.write(cli.proc.stdout.read())
            cli.proc.stdout.close()
        assert cli.finish() == 0, cli.err
    assert read_pcap(path).packets() == frames
    assert tcpdump_count(path) == len(frames)
    assert f"written to {name}" in cli.err


def test_binary_stream_to_a_terminal_is_refused(veth):
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "ringcap", "-i", veth.b, "-w", "-"],
                              cwd="/", env=ENV, stdout=slave, stderr=subprocess.PIPE,
                              text=True, timeout=30)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 1 and "standard output, which is a terminal" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_binary_file_onto_a_terminal_by_its_name_is_refused(veth):
    """-w /dev/stdout on a terminal, as -w - (it wrote pcap bytes onto the
    terminal once /dev/stdout was followed)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "ringcap", "-i", veth.b, "-c", "1",
                               "-w", "/dev/stdout"], cwd="/", env=ENV, stdout=slave,
                              stderr=subprocess.PIPE, text=True, timeout=30)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 1 and "-w /dev/stdout is a terminal" in proc.stderr, proc.stderr
    assert len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("source", ["-i", "-r"])
def test_writing_to_dev_full_says_the_first_write_failed(veth, tmp_path, source):
    """-w /dev/full takes not even the file header; the error said "an earlier
    write failed" (there was none) behind a repeated "cannot write to /dev/full"."""
    if source == "-r":
        ringcap.write_pcap(tmp_path / "in.pcap", ringcap.Batch.from_packets(
            [make_frame(i, 100) for i in range(3)]))
        args = ["-r", str(tmp_path / "in.pcap")]
    else:
        args = ["-i", veth.b, "-c", "1"]
    proc = subprocess.run([sys.executable, "-m", "ringcap", *args, "-w", "/dev/full"],
                          cwd="/", env=ENV, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[-1] == ("ringcap: writing to /dev/full failed: No space left on device "
                         "(nothing is in it, not even the file header); write to a new "
                         "file"), proc.stderr
    assert len(lines) == (2 if source == "-r" else 1), proc.stderr    # (-r: "reading from")


def _send_until_the_disk_is_full(cli, veth) -> None:
    """Send 1000-byte frames to a capture writing onto a small tmpfs until it
    stops on the full disk (at most 20 s), and check that it said so."""
    cli.wait_for("listening on")
    deadline = time.monotonic() + 20
    seq = 0
    while cli.proc.poll() is None and time.monotonic() < deadline:
        send(veth.a, [make_frame(seq + i, 1000) for i in range(500)])
        seq += 500
        time.sleep(0.05)          # (pacing the sender: the disk fills over several writes)
    assert cli.finish() == 1, cli.err
    assert "No space left on device" in cli.err and "Traceback" not in cli.err


@pytest.mark.parametrize("how", ["-w FILE", "-U -w FILE", "-w - > FILE"])
def test_a_full_disk_ends_the_file_at_a_record_and_the_summary_counts_every_packet(
        veth, tmp_path, how):
    """The summary's "captured" is what the file holds, also with -U and with
    a pcap stream into a regular file (-w - implies -U): the write that fails
    is written with writev() from the ring's blocks, and its packets are
    counted before -U's flush reports the failure (they were counted as
    never written before: 2114 captured for a file of 2712 packets)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(mnt)],
                   check=True, capture_output=True)
    try:
        path = mnt / "full.pcap"
        if how == "-w - > FILE":
            with open(path, "wb") as out:
                cli = Cli("-i", veth.b, "-w", "-", *OURS, stdout=out)
        else:
            cli = Cli("-i", veth.b, *how.split()[:-1], str(path), *OURS)
        _send_until_the_disk_is_full(cli, veth)
        assert "earlier" not in cli.err, cli.err     # the write that failed is the one named
        with warnings.catch_warnings():
            warnings.simplefilter("error")             # the file ends at a whole record
            in_file = len(read_pcap(path))
        count = {name: int(n) for n, name in re.findall(
            r"^(\d+) packets (captured|received by filter|dropped by kernel|left unread|read from)",
            cli.err, re.M)}
        assert count["captured"] == in_file > 0, cli.err
        assert in_file + count["dropped by kernel"] + count.get("left unread", 0) \
            + count.get("read from", 0) == count["received by filter"], cli.err
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True, capture_output=True)


def test_a_full_disk_under_rotation_counts_what_the_files_hold(veth, tmp_path):
    """-C onto a disk that fills: the batch whose write failed had put packets
    in the files before it failed (whole files of -C, the last one's complete
    records), and the sink counted them as written while the summary's
    "captured" did not, then took the lost ones off again: 61 packets in the
    files were "-15 packets captured" and 109 "not written" of 94 received
    (a 64 KiB tmpfs, -C 0.02, 200 frames of 1000 bytes)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mnt)],
                   check=True, capture_output=True)
    try:
        cli = Cli("-i", veth.b, "-C", "0.1", "-w", str(mnt / "c.pcap"), *OURS)
        _send_until_the_disk_is_full(cli, veth)
        with warnings.catch_warnings():
            warnings.simplefilter("error")             # each file ends at a whole record
            in_files = sum(len(read_pcap(path)) for path in mnt.iterdir())
        count = {name: int(n) for n, name in re.findall(
            r"^(-?\d+) packets (captured|received by filter|dropped by kernel|left unread|"
            r"read from)", cli.err, re.M)}
        assert count["captured"] == in_files > 0, cli.err
        assert in_files + count["dropped by kernel"] + count.get("left unread", 0) \
            + count.get("read from", 0) == count["received by filter"], cli.err
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True, capture_output=True)


def test_a_cooked_capture_keeps_its_link_header_under_a_tiny_snaplen_as_tcpdump(veth, tmp_path):
    """`-i any -s 10`: libpcap raises a cooked capture's snapshot length to 21
    (the 20-byte LINUX_SLL2 header and a byte of the packet), in the records
    and the file header; ringcap cut the link header itself to 10 bytes."""
    frames = [make_frame(i, 60 + i * 100) for i in range(6)]
    path = tmp_path / "any.pcap"
    cli = Cli("-i", "any", "-s", "10", "-c", len(frames), "-w", path, "-Q", "in", *OURS)
    cli.wait_for("listening on")
    assert "snapshot length 21 bytes" in cli.err
    send(veth.a, frames)
    assert cli.finish() == 0, cli.err
    got = read_pcap(path)
    assert got.caplen.tolist() == [21] * len(frames)
    assert got.wirelen.tolist() == [20 + len(f) - 14 for f in frames]
    assert [p[20:] for p in got.packets()] == [f[14:15] for f in frames]
    assert {p[:2] for p in got.packets()} == {TEST_ETHERTYPE.to_bytes(2, "big")}
    assert int.from_bytes(path.read_bytes()[16:20], "little") == 21
    fields = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "sll.etype"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert fields == [hex(TEST_ETHERTYPE)] * len(frames)


@pytest.mark.parametrize("snaplen, fmt", [(14, "pcap"), (15, "pcapng"), (10, "pcap")])
def test_a_snaplen_below_the_vlan_tag_cuts_the_tagged_frame_as_tcpdump(veth, tmp_path,
                                                                       snaplen, fmt):
    """`-s 14` on tagged frames: tcpdump's records hold the MACs and the TPID
    (81 00), and the wire length counts the tag.  The ring kept 14 bytes, too
    few to put the tag back, so the records said 08 00/88 b5 (the inner
    type, as if untagged) and the wire length missed its 4 bytes.  Under 12
    bytes (no room for the MACs) libpcap puts no tag back, and its wire
    length does not count it: `tcpdump -s 10` writes 74 for a 78-byte frame."""
    plain = [make_frame(i, 60 + i * 50) for i in range(8)]
    frames = [f[:12] + b"\x81\x00\x00\x0a" + f[12:] if i % 2 else f
              for i, f in enumerate(plain)]
    path = tmp_path / f"short.{fmt}"
    cli = Cli("-i", veth.b, "-c", len(frames), "-s", snaplen, "-w", path, *OURS)
    cli.wait_for("listening on")
    assert f"snapshot length {snaplen} bytes" in cli.err
    send(veth.a, frames)
    assert cli.finish() == 0, cli.err
    got = read_pcap(path)
    assert got.packets() == [f[:snaplen] for f in frames]
    assert got.wirelen.tolist() == [len(f) if snaplen >= 12 else len(p)
                                    for f, p in zip(frames, plain)]


def test_capture_file_holds_vlan_tags_and_snaplen_cuts_as_tcpdump_reads_them(veth, tmp_path):
    """`ringcap -w` writes pcap records straight from the ring's blocks: the
    802.1Q/802.1ad tags the kernel stripped are back in the bytes, -s cuts
    each record (wire length kept), and tcpdump reads the tags."""
    plain = [make_frame(i, 60 + i * 23) for i in range(30)]
    frames = [f[:12] + b"\x81\x00\x00\x0a" + f[12:] if i % 3 == 0 else
              f[:12] + b"\x88\xa8\x00\x64\x81\x00\x00\x0a" + f[12:] if i % 3 == 1 else f
              for i, f in enumerate(plain)]
    path = tmp_path / "tags.pcap"
    cli = Cli("-i", veth.b, "-c", str(len(frames)), "-s", "64", "-w", path)
    cli.wait_for("listening on")
    send(veth.a, frames)
    assert cli.finish() == 0, cli.err
    got = read_pcap(path)
    assert got.packets() == [f[:64] for f in frames]
    assert got.wirelen.tolist() == [len(f) for f in frames]
    text = subprocess.run(["tcpdump", "-nn", "-e", "-r", str(path)], capture_output=True,
                          text=True, check=True).stdout
    assert text.count("vlan 10, p") == 20 and text.count("vlan 100, p") == 10, text


def test_a_strftime_folder_with_G_is_not_refused_for_its_pattern(tmp_path):
    """-G -w 'DIR/%Y/part': the folder is named when each file opens (as
    tcpdump's -G names it); it was refused before anything was opened
    because 'DIR/%Y' itself does not exist."""
    years = {time.strftime("%Y"), time.strftime("%Y", time.localtime(time.time() + 120))}
    for year in years:
        (tmp_path / year).mkdir()
    cli = RingcapProcess("-i", "lo", "-c", "1", "-G", "60", "-w", tmp_path / "%Y" / "part",
                         "udp", "and", "dst", "port", "9")
    cli.wait_for("listening on")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        def done():
            sender.sendto(b"ringcap strftime folder", ("127.0.0.1", 9))
            return cli.proc.poll() is not None
        wait_until(done, 60, "ringcap to capture a packet on lo and exit")
    assert cli.finish() == 0, cli.err
    written = [tmp_path / year / "part" for year in years if (tmp_path / year / "part").exists()]
    assert len(written) == 1, cli.err
    assert b"ringcap strftime folder" in written[0].read_bytes()
