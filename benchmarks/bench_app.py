"""Cost of the application columns (docs/decode.md, "Application columns"; docs/flows.md).

``python benchmarks/bench_app.py --repeat 7`` prints ns per packet that the
application columns add to ``decode``: ``decode(batch, columns=NEEDED_HEADER_COLUMNS
+ those columns)`` less ``decode(batch, columns=NEEDED_HEADER_COLUMNS)`` (the
header pass's choice of the packets that may carry a message, and the
application pass over those), best of --repeat in CPU time, interleaved, per
kind of packet:

* ``no app port``: synthetic TCP/UDP conversations (``ringcap.testing.synthetic_traffic``)
  whose payloads are no application message: what the pass costs packets that carry none;
* ``dns``, ``http``, ``tls``: the messages of ``ringcap.testing.named_traffic``, each kind
  alone, with the columns named on the row.

``python benchmarks/bench_app.py --compare --rounds 5`` measures the issue's
speed section on three pcaps: ``recorded`` (real programs: ``tests/recorded.py``'s
full recording, ping, dig, curl over HTTP/1.1 and TLS, iperf3; from
``benchmarks/traffic.py``'s cache, recorded in a namespace of its own if missing),
``dns-heavy`` (every packet a DNS query or answer, ``named_traffic``'s) and
``tls-heavy`` (TLS sessions: a real ClientHello, then 3 application-data
records each way).  Per pcap:

* ns per packet the application columns add to ``decode`` (as above) on the
  packets that carry application data and on those that do not (into fresh
  columns, and into a reused ``HeadersBuffer``), for the three fields tshark
  is asked for and for every application column;
* whole process, ``tshark -T fields -e dns.qry.name -e
  tls.handshake.extensions_server_name -e http.host`` against ``python -c
  "read_pcap + decode(columns=(dns_qname, tls_sni, http_host))"``, CPU of the
  child process, interleaved, median of --rounds; and the same read_pcap + decode
  in this process, and decode alone on the batch already read;
* ``flow_features(read_pcap(pcap))`` (names on) against nfstream
  (``n_dissections=20, statistical_analysis=True, n_meters=1``), in this
  process, CPU including finished children, interleaved, median of --rounds.

``--without-split CALLS`` times the recorded mix's packets without a message
decoded into a ``HeadersBuffer`` with the three names and without, CALLS
calls each interleaved, split into the header pass, the application pass
and the Python around them (minimum and median of the calls).

``--at-scale PACKETS`` repeats each pcap to PACKETS packets and times whole
processes, tshark against a Python process streaming the file and against
``ringcap fields`` with tshark's arguments (``python -m ringcap``, output to
/dev/null, as tshark's); with
``--split`` (no tshark) it prints where that process's loop spends its CPU
at each ``--batch-packets`` size: the record walk, the header pass, the
application pass and the rest.  ``--keep DIR`` keeps the repeated pcaps there
for the next run.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import ringcap
import ringcap.headers
from ringcap import appcolumns
from ringcap.testing import named_traffic, synthetic_traffic


def cpu_best(function, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        function()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--compare", action="store_true",
                        help="the issue's speed section: recorded, dns-heavy, tls-heavy pcaps "
                             "against tshark and nfstream")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (--compare)")
    parser.add_argument("--without-split", type=int, default=0, metavar="CALLS",
                        help="the recorded mix's packets without a message: CALLS interleaved "
                             "decodes into a HeadersBuffer with the three names and without, "
                             "split into header pass, application pass and the rest")
    parser.add_argument("--pass-only", action="store_true",
                        help="--compare's first table only (no tshark, no nfstream)")
    parser.add_argument("--at-scale", type=int, default=0, metavar="PACKETS",
                        help="whole processes only: each pcap repeated to PACKETS packets, "
                             "tshark -T fields against a streaming ringcap process")
    parser.add_argument("--split", action="store_true",
                        help="with --at-scale: no tshark; where the streaming process's loop "
                             "spends its CPU (record walk, header pass, application pass, the "
                             "rest) at each --batch-packets")
    parser.add_argument("--batch-packets", default="65536",
                        help="--split: comma-separated batch sizes (default 65536)")
    parser.add_argument("--keep", metavar="DIR",
                        help="--at-scale: write the repeated pcaps into DIR and reuse them")
    args = parser.parse_args()
    if args.at_scale or args.compare:
        # ringcap starts as installed, with its bytecode: under PYTHONDONTWRITEBYTECODE=1
        # a source tree compiles every module it imports at every start (20-30 ms of
        # CPU of each streaming process; as claims.py and bench_cli.py do)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "ringcap")],
                       check=True, stdout=subprocess.DEVNULL)
    if args.without_split:
        without_split(args.without_split)
        return
    if args.at_scale and args.split:
        split(args.at_scale, args.rounds, [int(b) for b in args.batch_packets.split(",")],
              args.keep)
        return
    if args.at_scale:
        at_scale(args.at_scale, args.rounds, args.keep)
        return
    if args.compare:
        compare(args.repeat, args.rounds, args.pass_only)
        return
    named = ringcap.Batch.concat([named_traffic(3000, seed=1)] * 20)
    kinds = ringcap.decode(named, columns=("app_proto",)).app_proto
    cases = [("no app port", synthetic_traffic(200_000, conversations=300, seed=3),
              ("app_proto",)),
             ("no app port", synthetic_traffic(200_000, conversations=300, seed=3),
              tuple(appcolumns.APP_COLUMNS))]
    for name, number, columns in (
            ("dns", 1, ("dns_qtype",)), ("dns", 1, ("dns_qname", "dns_answer")),
            ("http", 2, ("http_status",)),
            ("http", 2, ("http_method", "http_path", "http_host", "http_user_agent")),
            ("tls", 3, ("tls_version", "tls_sni")), ("tls", 3, ("tls_sni", "tls_ja4"))):
        cases.append((name, named[kinds == number].copy(), columns))
    print("| packets | columns | ns/packet |")
    print("|---|---|---:|")
    for name, batch, columns in cases:
        shown = "all" if len(columns) > 6 else ", ".join(columns)
        print(f"| {name} | {shown} | {added_ns(batch, columns, args.repeat):.1f} |")


# ---------------------------------------------------------------- --compare
HERE = Path(__file__).resolve().parent
TSHARK_FIELDS = ("dns.qry.name", "tls.handshake.extensions_server_name", "http.host")
OUR_FIELDS = ("dns_qname", "tls_sni", "http_host")


def recorded_pcap() -> Path:
    sys.path.insert(0, str(HERE))
    import traffic
    import recorded as recording
    source = traffic.CACHE / f"recorded-source-full-r{recording.VERSION}.pcap"
    if not source.exists():
        traffic.CACHE.mkdir(parents=True, exist_ok=True)
        recording.record_in_new_netns(source, scale=3)
    return source


def dns_heavy(sessions: int = 15_000) -> ringcap.Batch:
    named = named_traffic(sessions, seed=5)
    kinds = ringcap.decode(named, columns=("app_proto",)).app_proto
    return named[kinds == 1].copy()


def tls_heavy(sessions: int = 6_000) -> ringcap.Batch:
    from ringcap import testing
    rng = np.random.default_rng(6)
    hellos = {}
    frames = []
    for k in range(sessions):
        client, server = 0x0A000001 + k % 50, 0xC0000201 + k % 12
        name, newest = testing._DOMAINS[k % 12], bool(k % 3)
        hello = hellos.get((name, newest))
        if hello is None:
            hello = hellos[(name, newest)] = testing._client_hello(name, newest)
        port = 20000 + k % 40000
        frames.append(testing._ipv4_frame(client, server, 6, testing._tcp(port, 443, hello)))
        for j in range(6):
            body = rng.integers(0, 256, int(rng.integers(100, 1400)), dtype=np.uint8).tobytes()
            record = b"\x17\x03\x03" + len(body).to_bytes(2, "big") + body
            if j % 2:
                frames.append(testing._ipv4_frame(server, client, 6, testing._tcp(443, port, record)))
            else:
                frames.append(testing._ipv4_frame(client, server, 6, testing._tcp(port, 443, record)))
    ts = 1_700_000_000 * 10**9 + np.arange(len(frames), dtype=np.int64) * 100_000
    return ringcap.Batch.from_packets(frames, ts=ts)


def _cpu_children() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _cpu_all() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime + _cpu_children()


def process_cpu(command: list[str]) -> float:
    """CPU seconds of one run of ``command`` (and the children it waited for)."""
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    before = _cpu_children()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)
    return _cpu_children() - before


def in_process_cpu(function, least: float = 0.2) -> float:
    """CPU seconds of one call of ``function``: the mean of as many calls as fill ``least``."""
    calls, before = 0, _cpu_all()
    while True:
        function()
        calls += 1
        used = _cpu_all() - before
        if used >= least:
            return used / calls


def run_nfstream(path: str) -> int:
    from nfstream import NFStreamer
    return sum(1 for _ in NFStreamer(source=path, n_dissections=20, statistical_analysis=True,
                                     n_meters=1))


def added_ns(batch, columns, repeat: int, reused: bool = False) -> float:
    """ns per packet that the application ``columns`` add to ``decode``: best of
    ``repeat`` (CPU time, interleaved) with them, less best of ``repeat`` without.
    ``reused``: decoding into a ``HeadersBuffer`` (as ringcap's own loops do)
    instead of fresh columns."""
    base = appcolumns.NEEDED_HEADER_COLUMNS
    asked = base + tuple(c for c in columns if c not in base)
    if reused:
        decode_with = ringcap.headers.HeadersBuffer(asked).decode
        decode_without = ringcap.headers.HeadersBuffer(base).decode
    else:
        def decode_with(batch):
            return ringcap.decode(batch, columns=asked)

        def decode_without(batch):
            return ringcap.decode(batch, columns=base)
    with_app = without = float("inf")
    for _ in range(repeat):
        with_app = min(with_app, cpu_best(lambda: decode_with(batch), 1))
        without = min(without, cpu_best(lambda: decode_without(batch), 1))
    return (with_app - without) / len(batch) * 1e9


def without_split(calls: int) -> None:
    """What the application columns cost the recorded mix's packets without a
    message, decoding into a ``HeadersBuffer`` (as ringcap's loops do): the
    thread CPU time of each of ``calls`` interleaved decodes with the three
    names and without, split by timing the compiled calls inside them (the
    header pass, ``_decode.decode_into``, which lists the packets that may
    carry a message; the application pass, ``_app.decode_app``); the rest is
    Python.  The minimum and the median of the calls, ns a packet: the
    minimum is the one least disturbed on a shared machine."""
    from ringcap import _app, _decode
    batch = ringcap.read_pcap(recorded_pcap())
    kinds = ringcap.decode(batch, columns=("app_proto",)).app_proto
    other = batch[kinds == 0].copy()
    base = appcolumns.NEEDED_HEADER_COLUMNS
    spent = {}

    def timed(module, name):
        call = getattr(module, name)

        def wrapper(*args, **kwargs):
            start = time.thread_time_ns()
            try:
                return call(*args, **kwargs)
            finally:
                spent[name] = time.thread_time_ns() - start
        setattr(module, name, wrapper)
        return call
    originals = [(module, name, timed(module, name)) for module, name in
                 ((_decode, "decode_into"), (_app, "decode_app"))]
    try:
        cases = {"with": ringcap.headers.HeadersBuffer(base + OUR_FIELDS).decode,
                 "without": ringcap.headers.HeadersBuffer(base).decode}
        runs = {name: [] for name in cases}
        for _ in range(calls):
            for name, decode in cases.items():
                spent.clear()
                start = time.thread_time_ns()
                decode(other)
                total = time.thread_time_ns() - start
                header, app = spent.get("decode_into", 0), spent.get("decode_app", 0)
                runs[name].append((total, header, app, total - header - app))
    finally:
        for module, name, call in originals:
            setattr(module, name, call)
    n = len(other)
    print(f"{n:,} packets without a message, {calls} calls each, ns a packet: min (median)")
    print()
    print("| columns | whole decode | header pass | application pass | rest (Python) |")
    print("|---|---:|---:|---:|---:|")
    for name, rows in runs.items():
        cells = []
        for k in range(4):
            values = sorted(row[k] for row in rows)
            cells.append(f"{values[0] / n:.2f} ({statistics.median(values) / n:.2f})")
        shown = ", ".join(OUR_FIELDS) if name == "with" else "none"
        print(f"| {shown} | " + " | ".join(cells) + " |")


def compare(repeat: int, rounds: int, pass_only: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_app.") as tmp:
        pcaps = {"recorded": str(recorded_pcap())}
        for name, batch in (("dns-heavy", dns_heavy()), ("tls-heavy", tls_heavy())):
            pcaps[name] = os.path.join(tmp, name + ".pcap")
            ringcap.write_pcap(pcaps[name], batch)
        print("| traffic | packets | with app data | columns | ns/packet with app data | "
              "ns/packet without | without, into a HeadersBuffer |")
        print("|---|---:|---:|---|---:|---:|---:|")
        for name, path in pcaps.items():
            batch = ringcap.read_pcap(path)
            kinds = ringcap.decode(batch, columns=("app_proto",)).app_proto
            carrying, other = batch[kinds != 0].copy(), batch[kinds == 0].copy()
            while len(carrying) < 20_000:            # the recorded mix has few: repeat them
                carrying = ringcap.Batch.concat([carrying, carrying])
            for columns in (OUR_FIELDS, tuple(appcolumns.APP_COLUMNS)):
                with_app = added_ns(carrying, columns, repeat)
                without = added_ns(other, columns, repeat) if len(other) else float("nan")
                reused = added_ns(other, columns, repeat, True) if len(other) else float("nan")
                shown = "all" if len(columns) > 6 else ", ".join(columns)
                print(f"| {name} | {len(batch)} | {int(np.count_nonzero(kinds))} | {shown} | "
                      f"{with_app:.1f} | {without:.1f} | {reused:.1f} |")
        print()
        if pass_only:
            return
        one = os.path.join(tmp, "one.pcap")
        ringcap.write_pcap(one, ringcap.read_pcap(pcaps["dns-heavy"])[:1].copy())

        def tshark(path):
            command = ["tshark", "-n", "-r", path, "-T", "fields"]
            for field in TSHARK_FIELDS:
                command += ["-e", field]
            return command

        print("CPU seconds, median of interleaved rounds; tshark's startup is its time on a "
              "one-packet pcap, 'beyond startup' subtracts it")
        print()
        print("| traffic | tshark -T fields | ringcap process | ratio | tshark beyond startup | "
              "ringcap in-process | ratio | decode alone | ratio | "
              "nfstream (n_dissections=20) | flow_features | ratio | flows |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, path in pcaps.items():
            shark, startup, ours_process, ours, alone, nf, flows = [], [], [], [], [], [], []
            batch = ringcap.read_pcap(path)
            script = (f"import ringcap; ringcap.decode(ringcap.read_pcap({path!r}), "
                      f"columns={OUR_FIELDS!r})")
            for _ in range(rounds):                   # interleaved: the machine is shared
                shark.append(process_cpu(tshark(path)))
                startup.append(process_cpu(tshark(one)))
                ours_process.append(process_cpu([sys.executable, "-c", script]))
                ours.append(in_process_cpu(lambda: ringcap.decode(ringcap.read_pcap(path),
                                                                  columns=OUR_FIELDS)))
                alone.append(in_process_cpu(lambda: ringcap.decode(batch, columns=OUR_FIELDS)))
                nf.append(in_process_cpu(lambda: run_nfstream(path)))
                flows.append(in_process_cpu(lambda: ringcap.flow_features(
                    ringcap.read_pcap(path))))
            m = {k: statistics.median(v) for k, v in (("shark", shark), ("proc", ours_process), ("startup", startup),
                                                       ("ours", ours), ("nf", nf), ("alone", alone),
                                                       ("flows", flows))}
            records = len(ringcap.flow_features(ringcap.read_pcap(path)))
            beyond = m["shark"] - m["startup"]
            print(f"| {name} | {m['shark']:.3f} | {m['proc']:.3f} | "
                  f"{m['shark'] / m['proc']:.1f} | {beyond:.3f} | {m['ours']:.4f} | "
                  f"{beyond / m['ours']:.0f} | {m['alone']:.4f} | {beyond / m['alone']:.0f} | "
                  f"{m['nf']:.3f} | {m['flows']:.4f} | "
                  f"{m['nf'] / m['flows']:.0f} | {records} |")


# ---------------------------------------------------------------- --at-scale
STREAM_SCRIPT = """
import sys, ringcap
counts, headers = [0, 0, 0], None
for batch in ringcap.open_pcap(sys.argv[1]):
    headers = ringcap.decode(batch, columns={fields!r}, out=headers)
    for i, name in enumerate({fields!r}):
        counts[i] += int((getattr(headers, name).lengths() > 0).sum())
print(*counts)
"""


def repeated(batch: ringcap.Batch, packets: int, path: str) -> int:
    """Write ``batch`` again and again to ``packets``, each copy later than the
    last and with its own conversations: copy ``c`` has the second byte of
    every IP source and destination XORed with ``c`` (both directions alike),
    so tshark sees new sessions, not retransmissions it would not dissect."""
    base = batch.copy()
    h = ringcap.decode(base, columns=("ip_version", "l3_offset"))
    at = []
    for version, spots, least in ((4, (13, 17), 20), (6, (9, 25), 40)):
        keep = (h.ip_version == version) & (base.caplen >= h.l3_offset + least)
        start = base.offset[keep] + h.l3_offset[keep]
        at += [start + spot for spot in spots]
    at = np.concatenate(at)
    original = base.data[at].copy()
    span = int(base.ts[-1] - base.ts[0]) + 1_000_000
    written, copy = 0, 0
    with ringcap.PcapWriter(path) as writer:
        while written < packets:
            if copy > 255:
                raise ValueError(f"{len(base)} packets repeated 256 times are fewer than {packets}")
            base.data[at] = original ^ copy
            part = base[:packets - written]
            part.ts = part.ts + copy * span
            writer.write(part)
            written += len(part)
            copy += 1
    return written


def scale_files(packets: int, where: str):
    """(name, path, packets) of each pcap repeated to ``packets`` packets in
    the folder ``where``, written unless there from an earlier run."""
    sources = {"recorded": lambda: ringcap.read_pcap(recorded_pcap()),
               "dns-heavy": dns_heavy, "tls-heavy": tls_heavy}
    os.makedirs(where, exist_ok=True)
    for name, source in sources.items():
        path = os.path.join(where, f"{name}-{packets}.pcap")
        if not os.path.exists(path):
            repeated(source(), packets, path + ".part")
            os.replace(path + ".part", path)
        yield name, path, packets


SPLIT_SCRIPT = """
import sys, time, ringcap
from ringcap import _pcapio, _decode, _app
spent = dict.fromkeys(("walk", "header", "app"), 0)
def timed(module, name, part):
    call = getattr(module, name)
    def wrapper(*args, **kwargs):
        start = time.thread_time_ns()
        try:
            return call(*args, **kwargs)
        finally:
            spent[part] += time.thread_time_ns() - start
    setattr(module, name, wrapper)
timed(_pcapio, "parse_pcap", "walk")
timed(_decode, "decode_into", "header")
timed(_app, "decode_app", "app")
start = time.thread_time_ns()
counts, headers = [0, 0, 0], None
for batch in ringcap.open_pcap(sys.argv[1], batch_packets=int(sys.argv[2])):
    headers = ringcap.decode(batch, columns={fields!r}, out=headers)
    for i, name in enumerate({fields!r}):
        counts[i] += int((getattr(headers, name).lengths() > 0).sum())
loop = time.thread_time_ns() - start
print(spent["walk"], spent["header"], spent["app"], loop - sum(spent.values()), loop)
"""


def split(packets: int, rounds: int, sizes: list[int], keep: str | None) -> None:
    """Where the streaming process's loop spends its CPU: each compiled call
    timed by thread CPU time inside the process, the rest being Python, the
    kernel unmapping finished windows and the script's counting."""
    script = SPLIT_SCRIPT.format(fields=OUR_FIELDS)
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    parts = ("record walk", "header pass", "application pass", "rest", "loop")
    with tempfile.TemporaryDirectory(prefix="bench_app.") as tmp:
        files = list(scale_files(packets, keep or tmp))
        print(f"ms of CPU of the streaming loop over {packets:,} packets, "
              f"median of {rounds} interleaved rounds")
        print()
        print("| traffic | packets a batch | " + " | ".join(parts) + " |")
        print("|---|---:|" + "---:|" * len(parts))
        for name, path, _ in files:
            runs = {size: [] for size in sizes}
            for _ in range(rounds):
                for size in sizes:
                    out = subprocess.run([sys.executable, "-c", script, path, str(size)],
                                         check=True, capture_output=True, text=True,
                                         env=env).stdout.split()
                    runs[size].append([int(v) / 1e6 for v in out])
            for size in sizes:
                medians = [statistics.median(r[k] for r in runs[size]) for k in range(len(parts))]
                print(f"| {name} | {size:,} | " + " | ".join(f"{m:.0f}" for m in medians) + " |")


def small_folios(path: str) -> str:
    """The share of the file's cached pages the page cache holds in 4 KiB
    folios: ringcap's kernel time (mapping the file, a page table entry a
    page of those; a folio at a time, or a 2 MiB entry, of larger ones) moves
    with it, from one run to the next as the cache evicts and reads the file
    again (docs/decode.md); "n/a" without root."""
    from bench_page_cache import folio_makeup
    makeup = folio_makeup(path)
    if not makeup["orders"]:
        return "n/a"
    return f"{100 * makeup['orders'].get(0, 0) / makeup['cached']:.0f}%"


def at_scale(packets: int, rounds: int, keep: str | None = None) -> None:
    """tshark -T fields against a whole ringcap process that streams the file
    (open_pcap, decode into reused Headers, counts each field's values), both
    from exec to exit, on each pcap repeated to ``packets`` packets."""
    script = STREAM_SCRIPT.format(fields=OUR_FIELDS)
    with tempfile.TemporaryDirectory(prefix="bench_app.") as tmp:
        print("CPU seconds of whole processes (exec to exit), median of interleaved rounds")
        print()
        print("| traffic | packets | MB | tshark -T fields | ringcap process | ratio | "
              "ringcap fields | ratio | values found: ringcap, tshark | 4 KiB folios |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
        for name, path, n in scale_files(packets, keep or tmp):
            shark, ours, fields = [], [], []
            command = ["tshark", "-n", "-r", path, "-T", "fields"]
            for field in TSHARK_FIELDS:
                command += ["-e", field]
            # the same command line, the same lines (tests/test_cli_fields.py)
            ringcap_fields = [sys.executable, "-m", "ringcap", "fields", *command[2:4],
                              *command[6:]]
            for _ in range(rounds):
                shark.append(process_cpu(command))
                ours.append(process_cpu([sys.executable, "-c", script, path]))
                fields.append(process_cpu(ringcap_fields))
            found = subprocess.run([sys.executable, "-c", script, path], check=True,
                                   capture_output=True, text=True,
                                   env={**os.environ, "PYTHONPATH": str(HERE.parent)}).stdout.split()
            lines = subprocess.run(command, check=True, capture_output=True,
                                   text=True).stdout.splitlines()
            theirs = [sum(1 for line in lines if line.split("\t")[i]) for i in range(3)]
            a, b, c = statistics.median(shark), statistics.median(ours), statistics.median(fields)
            print(f"| {name} | {n:,} | {os.path.getsize(path) / 1e6:.0f} | {a:.2f} | {b:.3f} | "
                  f"{a / b:.0f} | {c:.3f} | {a / c:.0f} | "
                  f"{' '.join(found)}; {' '.join(map(str, theirs))} | {small_folios(path)} |")
            if not keep:
                os.unlink(path)


if __name__ == "__main__":
    main()
