"""Every loop ringcap runs over batches decodes into reused Headers: over a
file of many batches, the output columns are allocated once, not per batch
(fresh columns cost several times the decode itself).  decode(batch) itself
still returns fresh columns."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ringcap
import ringcap.headers
import ringcap.report
from ringcap import Batch

BATCH = 4096
BATCHES = 32                  # two batches of open_pcap's default 65,536 packets too

TCP = bytes.fromhex("02000000000202000000000108004500002800014000400600000a0000010a000002"
                    "9c4001bb000000010000000050022000000000000000")
UDP6 = bytes.fromhex("020000000002020000000001" "86dd6000000000101140" + "20010db8" + "00" * 11
                     + "01" + "20010db8" + "00" * 11 + "02" + "9c410035001000000000000000000000")
ARP = bytes.fromhex("ffffffffffff0200000000010806000108000604000102000000000"
                    "10a000001000000000000" "0a000002") + bytes(18)


@pytest.fixture(scope="module")
def many_batches(tmp_path_factory):
    frames = [TCP, UDP6, ARP, TCP]
    n = BATCH * BATCHES + 100          # the last batch is a short one
    packets = [frames[i % len(frames)] for i in range(n)]
    ts = 1_700_000_000 * 10**9 + np.arange(n, dtype=np.int64) * 1000
    path = tmp_path_factory.mktemp("reuse") / "many.pcap"
    ringcap.write_pcap(path, Batch.from_packets(packets, ts=ts))
    return path


@pytest.fixture
def allocations(monkeypatch):
    """Rows of every Headers column allocation (``headers._allocate``), counted."""
    calls = []
    real = ringcap.headers._allocate

    def counting(n, names):
        calls.append(n)
        return real(n, names)

    monkeypatch.setattr(ringcap.headers, "_allocate", counting)
    return calls


def batches(path):
    with ringcap.open_pcap(path, batch_packets=BATCH) as reader:
        yield from reader


def test_decode_itself_returns_fresh_columns(many_batches, allocations):
    first, second = [ringcap.decode(b) for b, _ in zip(batches(many_batches), range(2))]
    assert len(allocations) == 2 and first.sport is not second.sport
    assert not np.shares_memory(first.sport, second.sport)


def test_traffic_report_decodes_into_reused_headers(many_batches, allocations):
    report, _ = ringcap.report.file_report(many_batches, batch_packets=BATCH)
    assert report.packets == BATCH * BATCHES + 100
    assert report.protocols()          # the decoded fields were used
    assert len(allocations) == 1, f"{len(allocations)} allocations for {BATCHES + 1} batches"


def test_flow_meter_decodes_into_reused_headers(many_batches, allocations):
    records = ringcap.flow_features(batches(many_batches))
    assert int(records.bidirectional_packets.sum()) == (BATCH * BATCHES + 100) * 3 // 4
    assert len(allocations) == 1


def test_flow_dataset_decodes_into_reused_headers(many_batches, allocations, tmp_path):
    pytest.importorskip("pyarrow")
    with ringcap.FlowSink(tmp_path / "flows") as sink:
        for batch in batches(many_batches):
            sink.write(batch)
    assert len(allocations) == 1


def test_reused_headers_match_a_fresh_decode(many_batches):
    buffer = ringcap.headers.HeadersBuffer(flow_hash=True)
    for batch in batches(many_batches):
        reused, fresh = buffer.decode(batch), ringcap.decode(batch)
        assert reused.names == fresh.names and len(reused) == len(batch)
        for name in fresh.names:
            assert np.array_equal(getattr(reused, name), getattr(fresh, name)), name
        assert np.array_equal(reused.flow_hash, fresh.flow_hash)
    assert buffer.capacity == BATCH


HOOK = textwrap.dedent("""
    import atexit, runpy, sys
    import ringcap.headers as headers
    real, calls = headers._allocate, []
    def counting(n, names):
        calls.append(n)
        return real(n, names)
    headers._allocate = counting
    atexit.register(lambda: print("HEADERS ALLOCATED", len(calls), file=sys.stderr))
    sys.argv[0] = "ringcap"
    runpy.run_module("ringcap", run_name="__main__", alter_sys=True)
""")


@pytest.mark.parametrize("command", [["stats"], ["top", "-r"]])
def test_command_line_loops_decode_into_reused_headers(many_batches, command):
    args = command + [str(many_batches)]
    if command[0] == "top":
        pytest.importorskip("rich")
    # (stats of one pcap file reads no batches, ringcap/cli/filestats.py: its
    # batch path, which pcapng files and several files take, is forced here)
    proc = subprocess.run([sys.executable, "-c", HOOK] + args, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "120",
                                            "RINGCAP_READ_BATCHES": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    # file_report reads 8,192 packets, then this file's small packets 32,768 at a
    # time (batch_packets_for): the columns grow once, never once a batch
    line = [x for x in proc.stderr.splitlines() if x.startswith("HEADERS ALLOCATED")]
    assert line in (["HEADERS ALLOCATED 1"], ["HEADERS ALLOCATED 2"]), proc.stderr[-2000:]


# ---------------------------------------------------------------- application columns
def _app_batches():
    """A batch full of messages of every kind, then batches with none, with
    others at other rows, a shorter one (rows past it stay in the buffer) and an
    empty one (it must clear the rows the batch before wrote too)."""
    from test_app_decode import built_messages
    messages = built_messages()
    named = ringcap.testing.named_traffic(300, seed=4)
    full = Batch.concat([Batch.from_packets(messages * 40), named])
    quiet = Batch.from_packets([TCP, UDP6, ARP] * (len(full) // 3))    # no message at all
    shifted = Batch.concat([quiet[:7].copy(), ringcap.testing.named_traffic(200, seed=9),
                            Batch.from_packets(messages[::-1] * 30)])
    return full, [quiet, shifted, quiet, full[: len(full) // 3].copy(), full[:0].copy(), quiet, full]


def _assert_same_app(got, want, where):
    assert set(got.names) >= set(want.names), where      # HeadersBuffer keeps the helpers
    for name in set(want.names) & set(ALL_APP_COLUMNS):
        a, b = getattr(got, name), getattr(want, name)
        if isinstance(b, ringcap.appcolumns.StringColumn):
            assert np.array_equal(a.offsets, b.offsets) and np.array_equal(a.data, b.data), \
                (where, name)
        else:
            assert a.dtype == b.dtype and a.shape == b.shape, (where, name)
            np.testing.assert_array_equal(a, b, err_msg=f"{where}: {name}")
    np.testing.assert_array_equal(got.flags, want.flags, err_msg=f"{where}: flags")


ALL_APP_COLUMNS = tuple(ringcap.appcolumns.APP_COLUMNS)


@pytest.mark.parametrize("columns", [ALL_APP_COLUMNS, ("dns_id", "tls_version", "dhcp_client_mac"),
                                     ("dns_qname", "tls_sni", "http_host")])
def test_reused_application_columns_hold_nothing_of_the_batch_before(columns):
    """decode(out=...) and HeadersBuffer fill the fixed-width application
    columns again, zeroing only the rows the pass before may have written (its
    list): after a batch full of messages, a batch with none, one with others
    at other rows, a shorter one and an empty one decode to exactly what a
    fresh decode gives (values, dtypes, flags), into the same memory."""
    full, later = _app_batches()
    fixed = [name for name in columns if not isinstance(
        getattr(ringcap.decode(full[:1].copy(), columns=columns), name),
        ringcap.appcolumns.StringColumn)]
    first_fresh = ringcap.decode(full, columns=columns)
    left = {name for name in fixed if np.count_nonzero(getattr(first_fresh, name)[: len(later[0])])}
    assert {"app_proto", "dns_id", "tls_version", "dhcp_client_mac"} & set(fixed) <= left, \
        "the batch before must leave values where the next has none"
    buffer = ringcap.headers.HeadersBuffer(columns)
    reused = [buffer.decode(full)]
    chained = [ringcap.decode(full, columns=columns)]       # out= a fresh decode's Headers
    for k, batch in enumerate(later):
        fresh = ringcap.decode(batch, columns=columns)
        reused.append(buffer.decode(batch))
        chained.append(ringcap.decode(batch, columns=columns, out=chained[0]))
        _assert_same_app(reused[-1], fresh, f"HeadersBuffer, batch {k + 1}")
        _assert_same_app(chained[-1], fresh, f"out=, batch {k + 1}")
    for name in fixed:      # filled again, not made afresh
        assert np.shares_memory(getattr(reused[0], name), getattr(reused[-1], name)), name
        assert np.shares_memory(getattr(chained[0], name), getattr(chained[-1], name)), name


def test_a_decode_loop_into_out_allocates_no_column_per_batch(allocations):
    """decode(out=...) with application columns keeps, with ``out``, the header
    columns only the application pass reads (not handed out) and the lists of
    packets it looks at: they were made afresh for every batch, a page fault
    per 4 KiB of them on a batch of 65,536.  Once warm, a loop with
    fixed-width application columns allocates a byte a packet at most (they
    took 19 and more), beside the header pass's scratch, and gives what a
    fresh decode gives."""
    import tracemalloc
    full, later = _app_batches()
    full, later = Batch.concat([full] * 16), [Batch.concat([b] * 16) for b in later]
    columns = ("dns_id", "tls_version", "dhcp_client_mac")      # no string column's buffers
    out = ringcap.decode(full, columns=columns)
    for _ in range(2):          # warm: the two lists the passes write in turn
        ringcap.decode(full, columns=columns, out=out)
    del allocations[:]
    tracemalloc.start()
    try:
        for k, batch in enumerate(later + later):
            want = ringcap.decode(batch, columns=columns) if len(batch) else None
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            calls = len(allocations)
            got = ringcap.decode(batch, columns=columns, out=out)
            _, peak = tracemalloc.get_traced_memory()
            assert len(allocations) == calls, f"batch {k}: Headers columns allocated"
            assert peak - before < len(batch) + 65536, \
                f"batch {k}: {peak - before} bytes allocated for {len(batch)} packets"
            if want is not None:
                _assert_same_app(got, want, f"batch {k}")
    finally:
        tracemalloc.stop()
    assert len(full) > 16384
