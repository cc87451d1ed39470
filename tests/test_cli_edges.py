"""Edges a tcpdump user meets: tcpdump's long options, a full disk under
pcapng, rotation into a folder that refuses new files, and what -z commands
inherit.  Real subprocesses on a veth pair and files checked with tcpdump."""
import os
import re
import subprocess
import sys

import pytest

import ringcap
from conftest import TEST_ETHERTYPE, RingcapProcess, make_frame
from ringcap import TxRing, open_pcap

PACKAGE_ROOT = os.path.dirname(os.path.dirname(ringcap.__file__))
ENV = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
OURS = ["ether", "proto", hex(TEST_ETHERTYPE)]


def run(*args, **options):
    return subprocess.run([sys.executable, "-m", "ringcap", *map(str, args)], cwd="/", env=ENV,
                          capture_output=True, text=True, timeout=120, **options)


def send(iface, frames, **options):
    with TxRing(iface, **options) as tx:
        tx.send(frames)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A file of TCP, UDP and ICMP over IPv4 and IPv6 (testing's named traffic)."""
    from ringcap.testing import named_traffic
    path = tmp_path_factory.mktemp("edges") / "sample.pcap"
    ringcap.write_pcap(path, named_traffic(40), nanosecond=False)
    return path


# ---------------------------------------------------------------- tcpdump's long options

def test_long_options_capture_as_their_short_forms(veth, tmp_path):
    """`ringcap --interface=X --snapshot-length=100 ...` was refused
    ("unrecognized arguments"): each long option tcpdump 4.99 has for a
    short one ringcap takes works, with tcpdump's meaning."""
    path = tmp_path / "long.pcap"
    frames = [make_frame(i, 300) for i in range(5)]
    cli = RingcapProcess("--interface=" + veth.b, "--immediate-mode", "--snapshot-length=100",
                         "--buffer-size=1024", "--direction=in", "--packet-buffered",
                         "--no-promiscuous-mode", "--nano", "--linktype=EN10MB",
                         "--relinquish-privileges=nobody", "-c", len(frames), "-w", path, *OURS)
    cli.wait_for("listening on")
    send(veth.a, frames)
    assert cli.finish() == 0, cli.err
    assert "data link type EN10MB" in cli.err and "dropped privileges to nobody" in cli.err
    assert f"listening on {veth.b}, link-type EN10MB (Ethernet), snapshot length 100 bytes, " \
           "ring 8 x 128 KiB" in cli.err, cli.err                 # 1024 KiB
    with open_pcap(path) as reader:
        got = reader.read()
        assert reader.nanosecond and reader.snaplen == 100
    assert got.caplen.tolist() == [100] * 5
    assert [bytes(p) for p in got.packets()] == [f[:100] for f in frames]


def test_immediate_mode_is_the_shortest_block_timeout():
    """--immediate-mode (libpcap: packets delivered as they arrive) is the
    kernel's shortest block timeout, 1 ms; with --block-timeout it is refused."""
    from ringcap.cli import build_parser, capture
    parser = build_parser("capture", capture)
    for argv, timeout in ((["--immediate-mode"], 1), ([], 10), (["--block-timeout", "4"], 4)):
        args = parser.parse_intermixed_args(argv)
        capture.check_tcpdump_modes(args)
        assert capture.ring_options(args, "x", 262144, None)["block_timeout_ms"] == timeout
    proc = run("--immediate-mode", "--block-timeout", "5", "-i", "lo")
    assert proc.returncode == 2 and proc.stderr == (
        "ringcap: --immediate-mode is --block-timeout 1: give one of them, not both\n")


def test_one_pcap_file_from_the_ring_gets_libpcaps_block_timeout(tmp_path):
    """-w FILE into one pcap file hands blocks over as tcpdump -w does: when
    full or after libpcap's 1000 ms (the part-filled blocks of a 10 ms timeout
    cost a wake-up and a write each); -U, -w -, a device or FIFO, pcapng,
    rotation, --print, -Q out, several interfaces and a timeout given keep theirs."""
    from ringcap.cli import build_parser, capture
    from ringcap.sinks import PcapSink, Rotation
    parser = build_parser("capture", capture)
    plain, stream = str(tmp_path / "a.pcap"), "-"
    for argv, target, sink_options, names, timeout in (
            ([], plain, {}, ["eth0"], 1000),
            ([], plain, {}, ["any"], 1000),
            (["-U"], plain, {}, ["eth0"], 10),
            ([], stream, {}, ["eth0"], 10),
            ([], str(tmp_path / "b.pcapng"), {}, ["eth0"], 10),
            ([], plain, {"rotation": Rotation(max_bytes=10**6)}, ["eth0"], 10),
            (["--print"], plain, {}, ["eth0"], 10),
            (["-Q", "out"], plain, {}, ["eth0"], 10),
            ([], plain, {}, ["eth0", "eth1"], 10),
            (["--block-timeout", "4"], plain, {}, ["eth0"], 4),
            (["--immediate-mode"], plain, {}, ["eth0"], 1)):
        args = parser.parse_intermixed_args(["-w", target, *argv])
        capture.check_tcpdump_modes(args)
        with open(os.devnull, "wb") as devnull, \
                PcapSink(devnull if target == "-" else target, **sink_options) as sink:
            assert capture.block_timeout_for(args, sink, names) == timeout, (argv, target)
            if target == plain and timeout == 1000:
                args.write = os.devnull          # -w /dev/stdout, a FIFO: read as it comes
                assert capture.block_timeout_for(args, sink, names) == 10


def test_listing_options_in_long_form_list_the_same(veth):
    assert run("--list-interfaces").stdout == run("-D").stdout != ""
    long = run("--list-data-link-types", "--interface", veth.b)
    assert long.returncode == 0 and long.stderr == run("-L", "-i", veth.b).stderr
    assert "EN10MB (Ethernet)" in long.stderr


@pytest.mark.parametrize("options", [
    ["--count"], ["--count", "tcp"], ["--count", "-c", "3"], ["--count", "-c", "1"],
    ["--count", "ip6", "and", "udp"]])
def test_count_prints_how_many_matched_as_tcpdump(sample, options):
    """tcpdump's --count (no packet lines; `N packets` on standard output)."""
    ours = run("-r", sample, *options)
    theirs = subprocess.run(["tcpdump", "-r", str(sample), *options], capture_output=True,
                            text=True)
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout and re.fullmatch(r"\d+ packets?\n", ours.stdout)


def test_count_over_a_file_list_totals_as_tcpdump(sample, tmp_path):
    (tmp_path / "list").write_text(f"{sample}\n{sample}\n")
    for options in ([], ["-c", "3"], ["udp"]):
        ours = run("--count", "-V", tmp_path / "list", *options)
        # (-Z root: Debian's tcpdump opens -V's files as its own user otherwise)
        theirs = subprocess.run(["tcpdump", "-Z", "root", "--count", "-V", str(tmp_path / "list"),
                                 *options], capture_output=True, text=True)
        assert ours.returncode == 0 and ours.stdout == theirs.stdout != "", ours.stderr


def test_count_and_print_with_w_write_the_file_too(sample, tmp_path):
    ours = run("--count", "-w", tmp_path / "c.pcap", "-r", sample, "udp")
    theirs = subprocess.run(["tcpdump", "--count", "-w", str(tmp_path / "t.pcap"), "-r",
                             str(sample), "udp"], capture_output=True, text=True)
    assert ours.stdout == theirs.stdout, ours.stderr
    assert len(ringcap.read_pcap(tmp_path / "c.pcap")) == len(ringcap.read_pcap(
        tmp_path / "t.pcap")) > 0
    printed = run("--print", "-nn", "-w", tmp_path / "p.pcap", "-r", sample, "tcp")
    expected = subprocess.run(["tcpdump", "-nn", "-r", str(sample), "tcp"],
                              capture_output=True, text=True).stdout
    assert printed.returncode == 0 and printed.stdout == expected != ""
    assert len(ringcap.read_pcap(tmp_path / "p.pcap")) == len(expected.splitlines())


@pytest.mark.parametrize("options", [["--nano"], ["--micro"], ["--number"],
                                     ["--absolute-tcp-sequence-numbers"],
                                     ["--time-stamp-precision=nano", "-tt"],
                                     ["--snapshot-length=100", "--linktype=EN10MB"]])
def test_printing_options_in_long_form_print_as_tcpdump(sample, options):
    ours = run("-nn", "-r", sample, *options)
    theirs = subprocess.run(["tcpdump", "-nn", "-r", str(sample), *options],
                            capture_output=True, text=True)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout != ""


def checksum_file(path):
    """Good and bad IPv4 header, TCP, UDP (v4 and v6, and none), ICMP and ICMPv6 checksums."""
    from scapy.all import ICMP, IP, TCP, UDP, Ether, ICMPv6EchoRequest, IPv6, Raw, wrpcap
    e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    v4 = IP(src="10.0.0.1", dst="10.0.0.2")
    v6 = IPv6(src="2001:db8::1", dst="2001:db8::2")
    wrpcap(str(path), [
        e / v4 / TCP(sport=1234, dport=80, flags="S"),
        e / v4 / TCP(sport=1234, dport=80, flags="PA", chksum=0x1234) / Raw(b"hello"),
        e / IP(src="10.0.0.1", dst="10.0.0.2", chksum=0x4321) / TCP(sport=1, dport=2, flags="A"),
        e / v4 / UDP(sport=1000, dport=2000, chksum=0x1111) / Raw(b"abcd"),
        e / v4 / UDP(sport=1000, dport=2000) / Raw(b"abcd"),
        e / v4 / UDP(sport=1000, dport=2000, chksum=0) / Raw(b"abcd"),
        e / v6 / UDP(sport=1000, dport=2000, chksum=0x2222) / Raw(b"abcd"),
        e / v6 / UDP(sport=1000, dport=2000) / Raw(b"abcd"),
        e / v6 / TCP(sport=1, dport=2, flags="S", chksum=0x3333),
        e / v4 / ICMP(chksum=0x5555), e / v4 / ICMP(),
        e / v6 / ICMPv6EchoRequest(cksum=0x6666), e / v6 / ICMPv6EchoRequest()])
    return path


@pytest.mark.parametrize("verbose", ["-v", "-vv", "-vvv"])
@pytest.mark.parametrize("flag", ["-K", "--dont-verify-checksums"])
def test_dont_verify_checksums_prints_as_tcpdump(tmp_path, verbose, flag):
    """-K: no IP, TCP or UDP checksum verdicts (ICMP's stay, as tcpdump's)."""
    path = checksum_file(tmp_path / "cksum.pcap")
    theirs = subprocess.run(["tcpdump", "-nn", verbose, flag, "-r", str(path)],
                            capture_output=True, text=True).stdout
    assert "cksum" in theirs and "(correct)" not in theirs and "udp sum ok" not in theirs
    ours = run("-nn", verbose, flag, "-r", path)
    assert ours.returncode == 0 and ours.stdout == theirs, ours.stderr
    # and without -K every verdict is there, as tcpdump's
    assert run("-nn", verbose, "-r", path).stdout == subprocess.run(
        ["tcpdump", "-nn", verbose, "-r", str(path)], capture_output=True, text=True).stdout


@pytest.mark.parametrize("direction", ["inout", "out"])
def test_print_while_capturing_to_a_file_prints_what_is_written(veth, tmp_path, direction):
    """tcpdump's --print with -w: the packets written are printed too (-c and
    -Q out apply to both)."""
    path = tmp_path / "printed.pcap"
    out = tmp_path / "printed.txt"
    iface, sender = (veth.b, veth.a) if direction == "inout" else (veth.a, veth.a)
    with open(out, "w") as stdout:
        cli = RingcapProcess("-i", iface, "--print", "-nn", "-Q", direction, "-c", 5,
                             "-w", path, *OURS, stdout=stdout)
        cli.wait_for("listening on")
        # (out of veth.a: not bypassing the qdisc, packet sockets see them)
        send(sender, [make_frame(i, 100 + i) for i in range(8)], qdisc_bypass=False)
        assert cli.finish() == 0, cli.err
    assert len(ringcap.read_pcap(path)) == 5
    expected = subprocess.run(["tcpdump", "-nn", "-r", str(path)], capture_output=True,
                              text=True).stdout
    assert out.read_text() == expected and "length 104" in expected


def test_print_with_a_stream_or_workers_is_refused_clearly(veth, tmp_path):
    proc = run("--print", "-i", veth.b, "-w", "-")
    assert proc.returncode == 2 and proc.stderr.startswith("ringcap: --print with -w -: ")
    proc = run("--print", "-i", veth.b, "--workers", "2", "-w", tmp_path / "x.pcap")
    assert proc.returncode == 2 and "--print with -w is not available with --workers" \
        in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "x.pcap").exists()


# ---------------------------------------------------------------- full disk, pcapng

def _mounted_tmpfs(folder, size):
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
                   check=True, capture_output=True)
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-R", "-i", str(folder)], capture_output=True)
        subprocess.run(["umount", "-l", str(folder)], check=True, capture_output=True)


@pytest.fixture
def small_fs(tmp_path):
    """A tmpfs of 1 MiB mounted for the test (unmounted after)."""
    yield from _mounted_tmpfs(tmp_path / "small", "1m")


@pytest.fixture
def scratch_fs(tmp_path):
    """A tmpfs of 64 MiB for the test, where `chattr +i` works (unmounted after)."""
    yield from _mounted_tmpfs(tmp_path / "scratch", "64m")


def summary_counts(err: str) -> dict:
    return {name: int(n) for n, name in re.findall(
        r"^(-?\d+) packets (captured|received by filter|dropped by kernel|left unread|"
        r"read from the ring but not written)", err, re.M)}


def send_until_stopped(cli, veth, size=1000, limit=20.0):
    """Frames of ``size`` bytes, 500 at a time, until ringcap exits (at most ``limit`` s)."""
    import time
    cli.wait_for("listening on")
    deadline = time.monotonic() + limit
    seq = 0
    while cli.proc.poll() is None and time.monotonic() < deadline:
        send(veth.a, [make_frame(seq + i, size) for i in range(500)])
        seq += 500
        time.sleep(0.05)          # (pacing the sender: the disk fills over several writes)
    return seq


@pytest.mark.parametrize("how", [["-w", "full.pcapng"], ["--format", "pcapng", "-w", "full"],
                                 ["-U", "-w", "full.pcapng"]])
def test_pcapng_onto_a_full_disk_keeps_what_fits(veth, small_fs, how):
    """pcapng onto a 1 MiB tmpfs wrote no packet at all ("0 of 1004 packets
    written", a 148-byte file) where pcap wrote 1032: the writer reserves
    disk space for its buffer (1 MiB) and the final statistics block before
    each write, and when that failed it gave up the whole buffer.  Now the
    whole records that fit with the reserve kept are written first."""
    *options, name = how
    path = small_fs / name
    cli = RingcapProcess("-i", veth.b, *options, path, *OURS)
    send_until_stopped(cli, veth)
    assert cli.finish() == 1, cli.err
    assert "No space left on device" in cli.err and "Traceback" not in cli.err
    with open_pcap(path) as reader:                # whole blocks only (a warning is an error)
        batch = reader.read()
        stats = reader.stats
    count = summary_counts(cli.err)
    assert count["captured"] == len(batch) > 900, cli.err      # 1,000-byte frames in 1 MiB
    assert count["captured"] + count["dropped by kernel"] + count.get("left unread", 0) \
        + count.get("read from the ring but not written", 0) == count["received by filter"]
    assert re.search(rf"failed: No space left on device \({len(batch)} of \d+ packets written; "
                     r"the file ends at its last complete record", cli.err), cli.err
    assert [s.received for s in stats] == [count["received by filter"]]   # (the reserve's use)
    tshark = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number"],
                            capture_output=True, text=True)
    assert tshark.returncode == 0 and len(tshark.stdout.split()) == len(batch), tshark.stderr


# ------------------------------------------------ rotation into a folder that refuses

def rotate_until_refused(cli, veth, folder, files_first=2):
    """Send until ``files_first`` files are in ``folder``, make it refuse new
    files (`chattr +i`: even root cannot create one), and send on until
    ringcap stops (at most 20 s more)."""
    import time
    cli.wait_for("listening on")
    seq = 0
    deadline = time.monotonic() + 60
    while len(os.listdir(folder)) < files_first and time.monotonic() < deadline:
        send(veth.a, [make_frame(seq + i, 1000) for i in range(50)])
        seq += 50
        time.sleep(0.02)
    subprocess.run(["chattr", "+i", str(folder)], check=True)
    deadline = time.monotonic() + 20
    while cli.proc.poll() is None and time.monotonic() < deadline:
        send(veth.a, [make_frame(seq + i, 1000) for i in range(200)])
        seq += 200
        time.sleep(0.05)
    return cli.finish(), seq


def packets_in(paths) -> int:
    return sum(len(ringcap.read_pcap(path)) for path in paths)


@pytest.mark.parametrize("options", [["-C", "0.2"], ["-C", "0.2", "--workers", "2"],
                                     ["-G", "1", "--workers", "2"], ["-C", "0.2", "-W", "2"]])
def test_rotation_into_a_folder_that_refuses_new_files(veth, scratch_fs, options):
    """-C/-G into a folder that stops taking new files mid-run: the error
    names the file and the errno, and the counts are the files' (with
    --workers the capture ended with only "ringcap: PATH: Operation not
    permitted": no summary, no count of what the files held; with -W, the
    file to be reused, which could not be removed, was left out of the
    summary's list)."""
    folder = scratch_fs / "out"
    folder.mkdir()
    name = "c.pcap" if "-C" in options else "g-%H%M%S-%f.pcap"
    cli = RingcapProcess("-i", veth.b, *options, "-w", folder / name.replace("-%f", ""), *OURS)
    code, sent = rotate_until_refused(cli, veth, folder)
    assert code == 1, cli.err
    made = sorted(folder.iterdir())
    last = re.search(r"ringcap: capture stopped: cannot create the next file, (\S+): "
                     r"Operation not permitted \(EPERM\); the (\d+) files finished before it "
                     r"are complete$", cli.err.strip())
    assert last and os.path.exists(last.group(1)) == ("-W" in options), cli.err
    assert int(last.group(2)) == len(made) >= 2
    count = summary_counts(cli.err)
    assert count["captured"] == packets_in(made) > 0, cli.err
    assert count["captured"] + count["dropped by kernel"] + count.get("left unread", 0) \
        + count.get("read from the ring but not written", 0) == count["received by filter"]
    assert f"written to {len(made)} files, {made[0]} ... {made[-1]}" in cli.err


def test_a_hidden_file_that_cannot_be_renamed_is_named_with_its_packets(veth, scratch_fs):
    """--hidden-until-complete: the rename into place refused, the summary
    listed the files without the hidden one that held the last packets."""
    folder = scratch_fs / "out"
    folder.mkdir()
    cli = RingcapProcess("-i", veth.b, "-C", "0.2", "--hidden-until-complete",
                         "-w", folder / "c.pcap", *OURS)
    code, sent = rotate_until_refused(cli, veth, folder, files_first=3)
    assert code == 1, cli.err
    hidden = [p for p in folder.iterdir() if p.name.startswith(".")]
    assert len(hidden) == 1, cli.err
    assert re.search(rf"cannot rename {re.escape(str(hidden[0]))} to {folder}/c\.pcap\d: "
                     r"Operation not permitted \(EPERM\); its packets are in it", cli.err)
    assert f" ... {hidden[0]}\n" in cli.err
    assert summary_counts(cli.err)["captured"] == packets_in(folder.iterdir())


def test_the_first_file_refused_is_named_as_made_not_as_the_template(veth, scratch_fs):
    folder = scratch_fs / "out"
    folder.mkdir()
    subprocess.run(["chattr", "+i", str(folder)], check=True)
    proc = run("-i", veth.b, "-G", "60", "-w", folder / "g-%Y.pcap")
    year = __import__("time").strftime("%Y")
    assert proc.returncode == 1 and proc.stderr == (
        f"ringcap: cannot write to {folder}/g-{year}.pcap: Operation not permitted\n")


# ---------------------------------------------------------------- -z commands' environment

@pytest.mark.parametrize("users", [None, "3"])
def test_post_rotate_commands_get_the_users_environment(veth, tmp_path, monkeypatch, users):
    """`ringcap` sets OPENBLAS_NUM_THREADS=1 and OPENBLAS_THREAD_TIMEOUT=4 for
    itself; a -z command (a numpy script, say) inherited them.  It now gets
    the user's values, or none."""
    for name in ("OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT"):
        if users is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, users)
    monkeypatch.delenv("GOTO_THREAD_TIMEOUT", raising=False)
    script = tmp_path / "post.sh"
    script.write_text('#!/bin/sh\nprintf "%s" "${OPENBLAS_NUM_THREADS-unset}" > "$1.env"\n'
                      'printf "%s" "${OPENBLAS_THREAD_TIMEOUT-unset}" >> "$1.env"\n'
                      'printf "%s" "${RINGCAP_TEST_MARK-unset}" >> "$1.env"\n')
    script.chmod(0o755)
    path = tmp_path / "z.pcap"
    monkeypatch.setenv("RINGCAP_TEST_MARK", "kept")
    cli = RingcapProcess("-i", veth.b, "-c", 3, "-C", "0.001", "-w", path, "-z", script, *OURS)
    cli.wait_for("listening on")
    send(veth.a, [make_frame(i, 600) for i in range(3)])
    assert cli.finish() == 0, cli.err
    envs = sorted(tmp_path.glob("z.pcap*.env"))
    assert len(envs) == 3, cli.err                 # one file a packet (-C 1000 bytes)
    assert {p.read_text() for p in envs} == {f"{users or 'unset'}{users or 'unset'}kept"}
