"""`ringcap stats`, `plot`, `replay` and `top`, run as real subprocesses."""
from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ringcap
import ringcap.testing
from conftest import DEADLINE, TEST_ETHERTYPE, drain, make_frame, wait_until
from ringcap import Batch, RxRing, TxRing
from test_report import _capinfos, _tshark, _tshark_conversations, corpus

PACKAGE_ROOT = os.path.dirname(os.path.dirname(ringcap.__file__))
ENV = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}


def ringcap_cli(*args, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ringcap", *map(str, args)], cwd="/", env=ENV,
                          capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def mixed_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli-analysis") / "mixed.pcapng"
    ringcap.write_pcap(path, corpus(), format="pcapng")
    return path


def test_stats_json_matches_capinfos_and_tshark(mixed_file):
    proc = ringcap_cli("stats", "--json", "--top", "1000", mixed_file)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    cap = _capinfos(mixed_file)
    s = doc["summary"]
    assert s["packets"] == int(cap["Number of packets"])
    assert s["data_size"] == int(cap["Data size"].split()[0])
    assert s["duration"] == pytest.approx(float(cap["Capture duration"].split()[0]), abs=1e-9)
    assert s["data_bit_rate"] == pytest.approx(float(cap["Data bit rate"].split()[0]), rel=1e-3)
    assert doc["files"][0]["file_size"] == int(cap["File size"].split()[0])
    expected = _tshark_conversations(_tshark(mixed_file, "conv,ip", "conv,ipv6"))
    got = {(c["a"], c["b"]): (c["packets_ab"], c["packets_ba"]) for c in doc["conversations"]}
    assert got == {k: (v[0], v[2]) for k, v in expected.items()}


def test_stats_takes_files_with_r_as_tcpdump_and_tshark(mixed_file):
    plain = json.loads(ringcap_cli("stats", "--json", mixed_file).stdout)
    flagged = ringcap_cli("stats", "--json", "-r", mixed_file, "-r", mixed_file)
    assert flagged.returncode == 0, flagged.stderr
    both = json.loads(flagged.stdout)
    assert both["summary"]["packets"] == 2 * plain["summary"]["packets"] > 0
    assert [f["path"] for f in both["files"]] == [str(mixed_file)] * 2
    none = ringcap_cli("stats")
    assert none.returncode == 2 and none.stderr == (
        "ringcap: give the capture files to summarize: ringcap stats FILE... (or -r FILE)\n")


def test_stats_and_top_say_how_to_give_the_filter_that_followed_a_file(mixed_file):
    """tcpdump's `-r FILE expression`: stats took the expression's words for
    files ('udp: no such file'), and `top FILE expression` said only "give a
    source"; each now says the command that does it, which does."""
    stats = ringcap_cli("stats", "-r", mixed_file, "udp", "port", "4000")
    assert stats.returncode == 2 and stats.stdout == ""
    assert stats.stderr == (f"ringcap: The file \"udp\" doesn't exist; to count only the "
                            f"packets a filter matches, give it with -f: ringcap stats -r "
                            f"{mixed_file} -f 'udp port 4000'\n")
    as_said = ringcap_cli("stats", "--json", "-r", mixed_file, "-f", "udp port 4000")
    assert as_said.returncode == 0, as_said.stderr
    assert 0 < json.loads(as_said.stdout)["summary"]["packets"] < len(ringcap.read_pcap(mixed_file))
    # a mistyped second file is no filter: no hint there
    typo = ringcap_cli("stats", mixed_file, "nosuch.pcap")
    assert typo.stderr == "ringcap: The file \"nosuch.pcap\" doesn't exist.\n"
    top = ringcap_cli("top", mixed_file, "udp", "port", "4000")
    assert top.returncode == 2 and top.stdout == ""
    assert top.stderr == (f"ringcap: to summarize the file {mixed_file}, give it with -r, as "
                          f"tcpdump takes it: ringcap top -r {mixed_file} udp port 4000\n")


def test_stats_text_and_errors(mixed_file, tmp_path):
    proc = ringcap_cli("stats", mixed_file)
    assert proc.returncode == 0, proc.stderr
    assert "Number of packets:   3000" in proc.stdout
    assert "Link types:          EN10MB (Ethernet) = 1\n" in proc.stdout      # tcpdump's name
    assert re.search(r"^\s+tcp\s+673\s+206702$", proc.stdout, re.M)
    missing = ringcap_cli("stats", tmp_path / "nope.pcap")
    assert missing.returncode == 2           # capinfos's words and status
    assert missing.stderr == f"ringcap: The file \"{tmp_path / 'nope.pcap'}\" doesn't exist.\n"
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"not a capture file at all")
    bad = ringcap_cli("stats", garbage)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "Traceback" not in bad.stderr


def test_plot_writes_a_png_with_labelled_axes(mixed_file, tmp_path):
    out = tmp_path / "traffic.png"
    proc = ringcap_cli("plot", mixed_file, "-o", out, "--interval", "0.5")
    assert proc.returncode == 0, proc.stderr
    import matplotlib.image
    image = matplotlib.image.imread(out)
    assert image.shape[:2] == (800, 1200)
    assert image[..., :3].std() > 0.05            # not a blank canvas
    from ringcap.plots import plot_report
    from ringcap.report import file_report
    report, _ = file_report(mixed_file, interval=0.5)
    figure = plot_report(report)
    labels = {ax.get_title(): (ax.get_xlabel(), ax.get_ylabel()) for ax in figure.axes}
    assert labels["Packets per second (0.5 s bins)"] == ("", "packets/s")
    assert labels["Bits per second"] == ("time (UTC)", "Mbit/s")
    assert labels["Protocol mix"][0] == "share of packets (%)"
    top = next(ax for ax in figure.axes if ax.get_title().startswith("Top"))
    assert len(top.patches) == 8
    bad = ringcap_cli("plot", mixed_file, "-o", tmp_path / "x.jpg")
    assert bad.returncode == 1 and "name a .png, .svg or .pdf" in bad.stderr


def test_replay_sends_at_the_requested_rate(veth, tmp_path):
    frames = [make_frame(i, 100) for i in range(600)]
    path = tmp_path / "replay.pcap"
    ringcap.write_pcap(path, Batch.from_packets(frames, ts=np.arange(600) * 10**6))
    with RxRing(veth.b, block_size=1 << 20, block_count=64, block_timeout_ms=100) as rx:
        proc = ringcap_cli("replay", path, "-i", veth.a, "--pps", "1000")
        got = Batch.concat(drain(rx, idle=0.5))
    assert proc.returncode == 0, proc.stderr
    assert "Actual: 600 packets (60000 bytes) sent" in proc.stderr
    assert "Failed packets:            0" in proc.stderr
    got = got[got.protocol == TEST_ETHERTYPE]
    assert got.packets() == frames
    # never faster than asked; a loaded machine may make it slower (5x room)
    assert 1000 / 5 < 599 / ((int(got.ts[-1]) - int(got.ts[0])) / 1e9) < 1000 * 1.05
    nodev = ringcap_cli("replay", path, "-i", "nosuchif0")
    assert nodev.returncode == 1 and "nosuchif0" in nodev.stderr and "Traceback" not in nodev.stderr


def test_top_max_entries_values(mixed_file):
    """--max-entries 0 is no bound, and so is 00 (it said "must be
    positive"); -1 said "must be positive" where 0 is taken: both refusals
    now say what is taken."""
    unbounded = ringcap_cli("top", "-r", mixed_file, "--max-entries", "0")
    assert unbounded.returncode == 0, unbounded.stderr
    same = ringcap_cli("top", "-r", mixed_file, "--max-entries", "00")
    assert (same.returncode, same.stdout) == (0, unbounded.stdout), same.stderr
    for value in ("-1", "1"):
        refused = ringcap_cli("top", "-r", mixed_file, "--max-entries", value)
        assert refused.returncode == 2 and (
            f"bad --max-entries '{value}': give at least 2 (or 0: no bound)"
            in refused.stderr), refused.stderr


def _flow_rows(text: str) -> list[tuple[int, int]]:
    rows = []
    for line in text.splitlines():
        if "\u2194" in line:
            cells = [c.strip() for c in line.strip("│ ").split("│")]
            rows.append((int(cells[3]), int(cells[4])))
    return rows


def test_top_from_a_file_matches_flows(mixed_file):
    proc = ringcap_cli("top", "-r", mixed_file, "--rows", "6")
    assert proc.returncode == 0, proc.stderr
    table = ringcap.flows(ringcap.read_pcap(mixed_file))      # both directions per 5-tuple
    expected = sorted(zip(table.packets.tolist(), table.bytes.tolist()), key=lambda r: -r[1])[:6]
    assert _flow_rows(proc.stdout) == expected
    # IPv6 endpoints keep their brackets (rich must not take them for markup)
    assert re.search(r"│ udp\s+│ \[fd00::\d\]:4000\s+│ ↔ \[fd00::\d\]:9999", proc.stdout)
    usage = ringcap_cli("top")
    assert usage.returncode == 2 and "give a source: -i IFACE" in usage.stderr
    # a file given as capinfos takes it, not as tcpdump does: said in one line, not
    # compiled as a filter expression
    hint = ringcap_cli("top", mixed_file)
    assert hint.returncode == 2 and hint.stdout == ""
    assert hint.stderr == (f"ringcap: to summarize the file {mixed_file}, give it with -r, as "
                           f"tcpdump takes it: ringcap top -r {mixed_file}\n")


def _top_screen(args, send, until, env=None) -> str:
    """Run `ringcap top ARGS` on a terminal: once its first table is drawn, call
    ``send()``, wait for ``until`` on the screen, stop it with Ctrl-C and return
    everything it drew."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ringcap", "top", *args], cwd="/",
                            env={**ENV, "COLUMNS": "160", "LINES": "60", **(env or {})},
                            stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    screen = b""
    closed = False

    def shows(pattern, what):
        def read():
            nonlocal screen, closed
            if not closed and select.select([master], [], [], 0.1)[0]:
                try:
                    screen += os.read(master, 65536)
                except OSError:               # EIO: the program has exited
                    closed = True
            return closed or (pattern is not None
                              and re.search(pattern, screen.decode("utf-8", "replace")))
        wait_until(read, what=what, interval=0)

    try:
        shows(r"Protocols", "the first table (the ring is open before it is drawn)")
        send()
        shows(until, f"{until!r} on the screen")
        proc.send_signal(signal.SIGINT)
        shows(None, "the exit, after the final totals")
        assert proc.wait(timeout=DEADLINE) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return screen.decode("utf-8", "replace")


def test_top_live_on_a_terminal_stops_cleanly_on_ctrl_c(veth):
    def send():
        with TxRing(veth.a) as tx:
            tx.send([make_frame(i, 200) for i in range(500)])

    text = _top_screen(["-i", veth.b, "--interval", "0.3", "ether", "proto",
                        hex(TEST_ETHERTYPE)], send, r"500 packets, 100000 bytes in")
    assert "Hosts" in text and "Protocols" in text
    assert "\x1b[" in text                              # drawn in place on the terminal
    assert re.search(r"500 packets, 100000 bytes in [\d.]+ s \(totals", text)
    assert "Traceback" not in text


def test_top_live_keeps_at_most_max_entries_flows_and_counts_the_rest_as_other(veth):
    """500 flows (a scan: one 200-byte UDP packet each) through `top -i --max-entries 64`:
    the final flow table holds at most 64 of them plus an "other" row, and together
    they count every packet and byte; the title says what was dropped."""
    n = 500
    scan = ringcap.testing.ipv4_batch(np.zeros(n, np.int64), ip_src=0x0A000000 + np.arange(n),
                                      ip_dst=0x0A630001, sport=10000 + np.arange(n), dport=9,
                                      ip_proto=17, payload_len=158)

    def send():
        with TxRing(veth.a) as tx:
            tx.send(scan)

    text = _top_screen(["-i", veth.b, "--interval", "0.3", "--rows", "1000",
                        "--max-entries", "64", "udp", "dst", "port", "9"], send,
                       r"500 packets, 100000 bytes in", env={"COLUMNS": "260", "LINES": "400"})
    assert "Traceback" not in text
    final = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text[text.rindex("(totals"):])
    title = re.search(r"--max-entries\s+64:\s+dropped\s+(\d+)\s+flows,\s+(\d+)\s+IP\s+"
                      r"conversations\s+\(counted\s+as\s+other\)", final)
    assert title, final[:400]
    flows = final[:final.index("Hosts")]
    rows = [(int(p), int(b)) for p, b in
            re.findall(r"│ udp\s+│[^│]+│[^│]+│\s*(\d+)\s*│\s*(\d+)\s*│", flows)]
    other = re.search(r"other \((\d+) flows dropped from the table\)\s*│\s*│\s*(\d+)\s*│"
                      r"\s*(\d+)\s*│", flows)
    assert other, flows[-600:]
    assert 0 < len(rows) <= 64
    assert int(other[1]) == int(title[1]) == n - len(rows)
    assert sum(p for p, _ in rows) + int(other[2]) == n
    assert sum(b for _, b in rows) + int(other[3]) == 200 * n
    assert 0 < n - int(title[2]) <= 64             # conversations kept


def test_a_file_cut_short_is_one_line_and_exit_1(mixed_file, tmp_path):
    """As tcpdump's "truncated dump file": the packets before the cut count, the exit is 1."""
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(mixed_file.read_bytes()[:200_000])
    for command in (["stats", "--json"], ["top", "-r"], ["read", "-r"]):
        proc = ringcap_cli(*command, cut)
        assert proc.returncode == 1, (command, proc.stderr)
        lines = [l for l in proc.stderr.splitlines() if l.startswith("ringcap: warning:")]
        assert len(lines) == 1 and "partial block at byte offset" in lines[0], proc.stderr
        assert "Traceback" not in proc.stderr and "PcapTruncatedWarning" not in proc.stderr
    doc = json.loads(ringcap_cli("stats", "--json", cut).stdout)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert doc["summary"]["packets"] == len(ringcap.read_pcap(cut)) > 0


def test_standard_input_is_refused_with_a_clear_line(mixed_file):
    # (`-r -` reads standard input as tcpdump does: test_printer.py)
    for command in (["stats", "-"],):
        proc = subprocess.run([sys.executable, "-m", "ringcap", *command], cwd="/", env=ENV,
                              input=mixed_file.read_bytes()[:1000], capture_output=True,
                              timeout=60)
        err = proc.stderr.decode()
        assert proc.returncode == 1 and "cannot read a capture from standard input" in err, err
        assert len(err.strip().splitlines()) == 1


def test_plot_html_is_an_interactive_page_with_the_same_panels(mixed_file, tmp_path):
    out = tmp_path / "traffic.html"
    proc = ringcap_cli("plot", mixed_file, "-o", out, "--interval", "0.5")
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert "<html>" in page and "Plotly.newPlot" in page
    assert not re.search(r'<script[^>]*src="https?://', page)   # plotly.js inside: no network
    assert len(page) > 1_000_000
    from ringcap.plots import plot_report_html
    from ringcap.report import file_report
    report, _ = file_report(mixed_file, interval=0.5)
    figure = plot_report_html(report)
    titles = [a.text for a in figure.layout.annotations]
    assert titles[:4] == ["Packets per second (0.5 s bins)", "Protocol mix", "Bits per second",
                          "Top 8 conversations"]
    rates = figure.data[0]
    assert sum(rates.y) * 0.5 == pytest.approx(3000)              # every packet in a bin
    assert figure.layout.yaxis.title.text == "packets/s"
    bad = ringcap_cli("plot", mixed_file, "--html", "-o", tmp_path / "x.png")
    assert bad.returncode == 1 and "must end in .html" in bad.stderr


def test_stats_data_size_is_wire_bytes_as_capinfos_counts_them(mixed_file, tmp_path):
    cut = tmp_path / "cut.pcapng"          # every packet cut to 64 bytes: caplen < wirelen
    subprocess.run(["editcap", "-s", "64", str(mixed_file), str(cut)], check=True)
    batch = ringcap.read_pcap(cut)
    assert int(batch.caplen.sum()) < int(batch.wirelen.sum())
    cap = _capinfos(cut)
    proc = ringcap_cli("stats", cut)
    assert proc.returncode == 0, proc.stderr
    ours = {k.strip(): v.strip() for k, _, v in
            (line.partition(":") for line in proc.stdout.splitlines()[:20])}
    assert ours["Data size"] == cap["Data size"] == f"{int(batch.wirelen.sum())} bytes"
    assert ours["Captured size"] == f"{int(batch.caplen.sum())} bytes"
    for line in ("Data byte rate", "Data bit rate", "Average packet size"):
        assert float(ours[line].split()[0]) == pytest.approx(float(cap[line].split()[0]),
                                                             rel=1e-3), line
    doc = json.loads(ringcap_cli("stats", "--json", cut).stdout)["summary"]
    assert doc["data_size"] == int(batch.wirelen.sum())
    assert doc["captured_size"] == int(batch.caplen.sum())


def _stats_maxrss(path, *args) -> tuple[subprocess.Popen, bytes, int]:
    """`ringcap stats` on path: (process, its stdout, peak RSS in KiB from wait4)."""
    with open(os.devnull, "w") as devnull:
        proc = subprocess.Popen([sys.executable, "-m", "ringcap", "stats", *args, str(path)],
                                cwd="/", env=ENV, stdout=subprocess.PIPE, stderr=devnull)
        out = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc, out, usage.ru_maxrss


def test_stats_rates_stay_bounded_over_a_span_of_years(tmp_path):
    from ringcap.report import MAX_RATE_INTERVALS
    year = 365 * 86400 * 10**9
    frames = [bytes(60)] * 3
    spread, close = tmp_path / "years.pcap", tmp_path / "seconds.pcap"
    ringcap.write_pcap(spread, Batch.from_packets(frames, ts=[1_600_000_000 * 10**9 + k * 2 * year
                                                              for k in range(3)]))
    ringcap.write_pcap(close, Batch.from_packets(frames, ts=[1_600_000_000 * 10**9 + k * 10**9
                                                             for k in range(3)]))
    base, _, base_rss = _stats_maxrss(close, "--json", "--interval", "60")
    assert base.returncode == 0
    proc, out, rss = _stats_maxrss(spread, "--json", "--interval", "60")
    assert proc.returncode == 0
    assert len(out) < 300_000, len(out)           # 2.1 million minutes made 25 MB
    assert rss < base_rss + 40 * 1024, (rss, base_rss)
    rates = json.loads(out)["rates"]
    assert rates["requested_interval"] == 60
    assert rates["interval"] == 60_000            # widened tenfold, three times
    assert len(rates["packets"]) <= MAX_RATE_INTERVALS
    assert sum(rates["packets"]) == 3 and sum(rates["bytes"]) == 180
    assert rates["packets"][0] == 1 and rates["packets"][-1] == 1
    proc = ringcap_cli("stats", spread)           # the default 1 s interval: same bound
    assert proc.returncode == 0, proc.stderr
    assert "--interval 1 s widened to keep at most 10000 intervals" in proc.stdout


def test_a_refresh_of_top_names_only_the_rows_it_shows():
    """A live `top` refresh over a table of 100,000 flows formatted every flow
    and named every host (10 s per refresh at 20,000 new flows/s: the ring,
    unread meanwhile, dropped 37% of them).  Now only the rows shown are
    named; tied rows come in address order (10.0.0.9 before 10.0.0.10)."""
    import argparse
    from ringcap.cli import top
    from ringcap.report import TrafficReport
    n = 3000
    heavy = ringcap.testing.ipv4_batch(np.zeros(4, np.int64), 0x0A000063, 0x0A0000FE, 7, 9, 17,
                                       payload_len=900)
    scan = ringcap.testing.ipv4_batch(np.zeros(n, np.int64), 0x0A000001 + np.arange(n),
                                      0x0A0000FE, 1000, 53, 17)
    report = TrafficReport(track_flows=True, max_entries=100_000)
    report.update(Batch.concat([heavy, scan]))
    args = argparse.Namespace(sort="bytes", by="flow", rows=5)
    named = []

    def count(frame, event, arg):
        if event == "call" and frame.f_code.co_name in ("ip_text", "_ip_text"):
            named.append(1)
    sys.setprofile(count)
    try:
        previous = top._snapshot(report)
        report.update(scan[:20])        # (the next interval: 20 flows seen again)
        group = top._tables(report, *previous, 1.0, args, "title")
    finally:
        sys.setprofile(None)
    assert len(named) < 100, len(named)
    console = __import__("rich.console").console.Console(width=200, color_system=None)
    with console.capture() as captured:
        console.print(group)
    flows = [line.split("│")[2].strip() for line in captured.get().splitlines() if "↔" in line]
    assert flows == ["10.0.0.1:1000", "10.0.0.2:1000", "10.0.0.3:1000", "10.0.0.4:1000",
                     "10.0.0.5:1000"], captured.get()
    hosts = re.findall(r"^│ (10\.0\.[\d.]+) ", captured.get(), re.M)
    assert hosts[:3] == ["10.0.0.254", "10.0.0.99", "10.0.0.1"], captured.get()


def test_top_live_keeps_its_totals_when_the_interface_is_deleted(netns):
    """The interface deleted under a live `top`: it ended with the error alone,
    its totals lost.  Now it draws the final totals (every packet the ring had
    taken), prints the kernel's counts, then the error; exit 1, as `-w`."""
    from conftest import VethPair
    pair = VethPair()
    try:
        def send():
            with TxRing(pair.a) as tx:
                tx.send([make_frame(i, 200) for i in range(300)])

        master, slave = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "ringcap", "top", "-i", pair.b,
                                 "--interval", "0.2", "ether", "proto", hex(TEST_ETHERTYPE)],
                                cwd="/", env={**ENV, "COLUMNS": "160", "LINES": "60"},
                                stdin=slave, stdout=slave, stderr=slave)
        os.close(slave)
        screen = b""

        def shows(pattern):
            nonlocal screen
            if select.select([master], [], [], 0.1)[0]:
                try:
                    screen += os.read(master, 65536)
                except OSError:               # EIO: the program has exited
                    return True
            return re.search(pattern, screen.decode("utf-8", "replace"))
        try:
            wait_until(lambda: shows("Protocols"), what="the first table", interval=0)
            send()
            wait_until(lambda: shows(r"300 packets, 60000 bytes in"), what="300 packets shown",
                       interval=0)
            pair.delete()
            wait_until(lambda: shows("capture stopped") and proc.poll() is not None,
                       what="the exit", interval=0)
            while shows("(?!)") is None:      # what is left on the terminal
                pass
            assert proc.wait(timeout=DEADLINE) == 1
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
    finally:
        pair.delete()
    text = screen.decode("utf-8", "replace")
    assert re.search(r"300 packets, 60000 bytes in [\d.]+ s \(totals", text), text[-2000:]
    assert "300 packets received by filter, 0 dropped by kernel" in text
    assert re.search(r"ringcap: capture stopped: capturing on \S+: Network is down", text)
    assert "Traceback" not in text
