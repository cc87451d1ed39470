"""No loop ringcap runs over batches allocates fresh memory per batch once warm.

Every loop the library and the command line run batch after batch (the
sinks, the reports behind ``stats`` and ``top``, the packet printer, the flow
meter, ``open_pcap``'s own iteration, ``convert``) is run over a file of
some 400,000 small packets, cut in batches of 65,536, under ``tracemalloc``
(numpy reports its arrays' data to it).  For each batch after the first two
(the reader's buffers and the loop's reused arrays are made then),
what the step allocated and freed again (its peak above what it kept) must
stay under a few tens of KiB: one fresh byte per packet would be 64 KiB.
What a step keeps is bounded apart: nothing, except the rows a sink holds
until it writes them (a Parquet row group's strings, a flow file's flows).
"""
import json
import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

import ringcap
from ringcap import Batch
from ringcap.appcolumns import STRING_COLUMNS
from ringcap.sinks.parquet import DEFAULT_ROW_GROUP_ROWS
from ringcap.testing import named_traffic, synthetic_traffic

BATCH = 65536
BATCHES = 6
#: Bytes a step may allocate and free again: the decoder's scratch chunk (32 KiB, a
#: constant per call) and small Python objects; a fresh byte per packet is 64 KiB.
TRANSIENT = 56 << 10
#: Bytes a step may keep beyond what it is documented to hold (dict growth and such).
KEPT = 16 << 10
#: Batches that may allocate what the loop then reuses: the reader's pool holds two
#: column buffers in turn (one the batch just handed out views, one being read).
WARM = 2
#: A filter that keeps some of every batch's packets (the 48 conversations' UDP
#: and the named sessions' TLS) and drops the rest: a selection per batch.
FILTER = "udp or tcp port 443"
APP_COLUMNS = ("dns_qname", "tls_sni", "http_host", "dns_qtype", "app_proto", "tls_version")


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """BATCHES x BATCH small packets of 48 conversations and a few named sessions
    (DNS, TLS, HTTP) that come back in every batch, within one second (one
    partition, one file): a batch's flows are few, its packets many."""
    named = named_traffic(12, seed=3)
    plain = synthetic_traffic(BATCH - len(named), conversations=48, max_payload=40,
                              span_ns=10**8, seed=5)
    plain.ifindex[:] = 0
    one = Batch.concat([named, plain])
    parts = []
    for k in range(BATCHES):
        part = one.copy()
        part.ts[:] = np.sort(one.ts) - one.ts.min() + 1_700_000_000 * 10**9 + k * 10**8
        parts.append(part)
    path = tmp_path_factory.mktemp("steady") / "many.pcap"
    ringcap.write_pcap(path, parts)
    return path


def _measure(batches, step=lambda batch: None):
    """(transient, kept) bytes of each batch: the reader's next() and ``step``
    together, the peak above the end and the end above the start."""
    was_tracing = tracemalloc.is_tracing()
    tracemalloc.start()
    rows = []
    try:
        iterator = iter(batches)
        while True:
            start = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            batch = next(iterator, None)
            if batch is None:
                break
            step(batch)
            end, peak = tracemalloc.get_traced_memory()
            rows.append((peak - end, end - start))
            del batch
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return rows


def _assert_steady(rows, kept_allowed=lambda k: KEPT, what=""):
    assert len(rows) == BATCHES, rows
    for k, (transient, kept) in enumerate(rows[WARM:], start=WARM):
        assert transient <= TRANSIENT, \
            f"{what}: batch {k + 1} allocated and freed {transient} bytes ({rows})"
        assert kept <= kept_allowed(k), \
            f"{what}: batch {k + 1} kept {kept} bytes, allowed {kept_allowed(k)} ({rows})"


def _batches(path):
    with ringcap.open_pcap(path) as reader:      # the defaults: 65,536 packets a batch
        yield from reader


def _string_bytes(path, k: int) -> int:
    """Bytes of the string columns of APP_COLUMNS of batch ``k``, as decode gives them."""
    with ringcap.open_pcap(path) as reader:
        for i, batch in enumerate(reader):
            if i == k:
                h = ringcap.decode(batch, columns=APP_COLUMNS)
                return sum(h[name].offsets.nbytes + h[name].data.nbytes
                           for name in APP_COLUMNS if name in STRING_COLUMNS)
    raise AssertionError(f"no batch {k}")


def test_open_pcap_iteration_allocates_nothing_per_batch(capture):
    rows = _measure(_batches(capture))
    _assert_steady(rows, what="open_pcap")


@pytest.mark.parametrize("columns", [None, "app"], ids=["default", "application_columns"])
def test_parquet_sink_allocates_nothing_per_batch_but_its_strings(capture, tmp_path, columns):
    """The header pass runs once per batch, application columns with it, into
    the row group; what a batch keeps is its strings (until the row group is
    written), nothing else."""
    pytest.importorskip("pyarrow")
    from ringcap.sinks.parquet import DEFAULT_PACKET_COLUMNS
    chosen = None if columns is None else DEFAULT_PACKET_COLUMNS + APP_COLUMNS
    sink = ringcap.ParquetSink(tmp_path / "ds", columns=chosen, row_group_rows=1 << 20)
    try:
        rows = _measure(_batches(capture), sink.write)
    finally:
        sink.close()
    if columns is None:
        _assert_steady(rows, what="ParquetSink")
    else:
        strings = _string_bytes(capture, 1)
        assert strings > 4 * BATCH          # the offsets at least: the strings are there
        _assert_steady(rows, lambda k: strings + KEPT, what="ParquetSink with app columns")
    import pyarrow.parquet as pq
    table = pq.read_table(sink.files[0])
    assert table.num_rows == BATCH * BATCHES
    if columns is not None:
        names = set(table.column("dns_qname").to_pylist()) - {None}
        assert len(names) > 3 and table.column("app_proto").to_numpy().any()


def test_parquet_sink_runs_one_header_pass_per_batch_with_application_columns(
        capture, tmp_path, monkeypatch):
    """Header and application columns come from one decode of each batch (the
    header pass lists the packets the application pass reads), not two."""
    pytest.importorskip("pyarrow")
    import ringcap.headers
    real, calls = ringcap.headers._decode.decode_into, []

    def counted(*args, **kwargs):
        calls.append(len(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(ringcap.headers._decode, "decode_into", counted)
    with ringcap.ParquetSink(tmp_path / "ds", columns=("ts", "sport") + APP_COLUMNS) as sink:
        for batch in _batches(capture):
            sink.write(batch)
    assert calls == [BATCH] * BATCHES


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_capture_file_sinks_allocate_nothing_per_batch(capture, tmp_path, fmt):
    from ringcap.sinks import PcapSink
    with PcapSink(tmp_path / f"out.{fmt}", format=fmt) as sink:
        rows = _measure(_batches(capture), sink.write)
    _assert_steady(rows, what=f"PcapSink {fmt}")
    with ringcap.open_pcap(tmp_path / f"out.{fmt}") as reader:
        assert sum(len(b) for b in reader) == BATCH * BATCHES


def test_pcapng_sink_of_several_interfaces_allocates_nothing_per_batch(capture, tmp_path):
    """Batches whose packets come from three interfaces (as from ``-i any`` or a
    pool): each packet's interface id is found without a key array and a sort
    per batch, and every packet keeps its interface."""
    from ringcap.sinks import PcapSink
    pattern = (np.arange(BATCH, dtype=np.int32) * 7 // 5) % 3 + 2

    def step(batch, sink):
        np.copyto(batch.ifindex, pattern[:len(batch)])
        sink.write(batch)

    names = {2: "eth0", 3: "eth1", 4: "wlan0"}
    with PcapSink(tmp_path / "three.pcapng", format="pcapng", interface=names) as sink:
        rows = _measure(_batches(capture), lambda batch: step(batch, sink))
    _assert_steady(rows, what="PcapSink pcapng of three interfaces")
    with ringcap.open_pcap(tmp_path / "three.pcapng") as reader:
        back = [b.copy() for b in reader]
        assert [i.name for i in reader.interfaces] == ["eth0", "eth1", "wlan0"]
    ifindex = np.concatenate([b.ifindex for b in back])
    assert len(ifindex) == BATCH * BATCHES
    assert np.array_equal(ifindex, np.tile(pattern - 2, BATCHES))   # ids in order met


def test_flow_sink_keeps_only_its_flows(capture, tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    with ringcap.FlowSink(tmp_path / "flows") as sink:
        rows = _measure(_batches(capture), sink.write)
    flows = pq.read_table(sink.files[0]).num_rows
    assert flows >= 48
    # each batch's flow rows (some 200 bytes each) wait to be merged
    _assert_steady(rows, lambda k: 256 * flows + KEPT, what="FlowSink")


@pytest.mark.parametrize("options", [{}, {"track_names": True}, {"track_flows": True}],
                         ids=["stats", "stats_names", "top"])
def test_traffic_reports_allocate_nothing_per_batch(capture, options):
    report = ringcap.report.TrafficReport(**options)
    rows = _measure(_batches(capture), report.update)
    _assert_steady(rows, what=f"TrafficReport({options})")
    assert report.packets == BATCH * BATCHES


def test_packet_printer_allocates_nothing_per_batch_but_its_text(capture):
    from ringcap.cli.printer import PacketPrinter
    with open(os.devnull, "w") as devnull:
        printer = PacketPrinter(devnull)
        rows = _measure(_batches(capture), printer.print_batch)
    _assert_steady(rows, what="PacketPrinter")
    assert printer.packets == BATCH * BATCHES


def test_flow_meter_allocates_nothing_per_batch(capture):
    meter = ringcap.FlowMeter()
    rows = _measure(_batches(capture), meter.update)
    _assert_steady(rows, what="FlowMeter")
    assert meter.active_flows >= 48


def test_filtered_reports_allocate_nothing_per_batch(capture):
    """``file_report(filter=...)`` (behind ``stats -f`` and ``top -r FILE EXPR``):
    the filter's selection reuses its columns; the report sees only the matches."""
    report = ringcap.report.TrafficReport()
    rows = _measure(ringcap.report._filtered(_batches(capture), FILTER), report.update)
    _assert_steady(rows, what="TrafficReport of a filtered file")
    expected, _ = ringcap.report.file_report([capture], filter=FILTER)
    assert 0 < report.packets == expected.packets < BATCH * BATCHES
    assert report.data_size == expected.data_size


# ---------------------------------------------------------------- the command line
HOOK = textwrap.dedent("""
    import atexit, json, runpy, sys, tracemalloc
    import ringcap.pcapfile.reader as reader
    real, rows = reader.PcapReader.__iter__, []
    def measured(self):
        # each batch: from the command asking for it to the command asking for the next
        tracemalloc.start()
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for batch in real(self):
            yield batch
            end, peak = tracemalloc.get_traced_memory()
            rows.append((peak - end, end - start))
            start = end
            tracemalloc.reset_peak()
    reader.PcapReader.__iter__ = measured
    # `ringcap -r FILE` printing a pcap file makes no batches: each chunk of
    # records, from one ask for the next chunk to the next
    import ringcap.cli.fileprint as fileprint
    real_next, last = fileprint._Chunks.next, []
    def measured_next(self, want):
        n = real_next(self, want)
        if not last:
            tracemalloc.start()
        else:
            end, peak = tracemalloc.get_traced_memory()
            rows.append((peak - end, end - last[-1]))
        last.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.reset_peak()
        return n
    fileprint._Chunks.next = measured_next
    atexit.register(lambda: print("STEADY " + json.dumps(rows), file=sys.stderr))
    sys.argv[0] = "ringcap"
    runpy.run_module("ringcap", run_name="__main__", alter_sys=True)
""")


@pytest.mark.parametrize("command", [
    ["stats"], ["top", "-r"], ["-r"], ["-r"], ["convert", "--format", "pcapng"],
    ["convert", "--format", "parquet"],
    ["stats", "-f", FILTER], ["top", "-r"], ["-r"], ["-r"], ["convert", "--format", "pcapng"],
    ["convert", "--format", "parquet"]],
    ids=["stats", "top", "read", "read_batches", "convert_pcapng", "convert_parquet",
         "stats_filter", "top_filter", "read_filter", "read_batches_filter",
         "convert_pcapng_filter", "convert_parquet_filter"])
def test_command_line_loops_allocate_nothing_per_batch(capture, tmp_path, command, request):
    if command[0] == "top":
        pytest.importorskip("rich")
    if command[-1] == "parquet":
        pytest.importorskip("pyarrow")
    filtered = request.node.callspec.id.endswith("_filter")
    args = command + [str(capture)]
    if command[0] == "convert":
        args.append(str(tmp_path / ("ds" if command[-1] == "parquet" else "out.pcapng")))
    if filtered and command[0] != "stats":
        args.append(FILTER)         # (stats takes its filter as -f)
    with open(os.devnull, "w") as devnull:
        # (read: a pcap file printed without batches; read_batches: forced to make them)
        batches = {"RINGCAP_READ_BATCHES": "1"} if "read_batches" in request.node.callspec.id \
            else {}
        env = {name: value for name, value in os.environ.items()
               if name != "RINGCAP_READ_BATCHES"}
        proc = subprocess.run([sys.executable, "-c", HOOK] + args, stdout=devnull,
                              stderr=subprocess.PIPE, text=True, timeout=600,
                              env={**env, "COLUMNS": "120", **batches})
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = [x for x in proc.stderr.splitlines() if x.startswith("STEADY ")]
    assert len(line) == 1, proc.stderr[-2000:]
    rows = json.loads(line[0][len("STEADY "):])
    assert len(rows) >= BATCHES - 1, rows      # (-r sizes its batches by the packets' size)
    # -r, stats and top size their batches by the file's packets after the first one
    # (pcapfile.buffers.batch_packets_for): their buffers grow once more
    warm = WARM + (command[0] in ("-r", "stats", "top"))
    if filtered and command[0] == "convert":
        with ringcap.open_pcap(capture) as reader:
            matched = sum(len(b[ringcap.bpf.filter_mask(b, FILTER)]) for b in reader)
        assert 0 < matched < BATCH * BATCHES
        if command[-1] == "pcapng":
            with ringcap.open_pcap(tmp_path / "out.pcapng") as reader:
                assert sum(len(b) for b in reader) == matched
        assert f"{matched} written" in proc.stderr, proc.stderr[-2000:]
    for k, (transient, kept) in enumerate(rows[warm:], start=warm):
        if command[-1] == "parquet" and (k + 1) * BATCH % DEFAULT_ROW_GROUP_ROWS == 0:
            # a batch that ends a row group: its Arrow bit maps (a bit a row) and, the
            # first time, the labels' codes (kept for every later row group) are its own
            transient -= DEFAULT_ROW_GROUP_ROWS // 4
            kept -= 4 * DEFAULT_ROW_GROUP_ROWS
        assert transient <= TRANSIENT and kept <= KEPT, \
            f"{' '.join(command)}: batch {k + 1} allocated and freed {transient} bytes, " \
            f"kept {kept} ({rows})"
