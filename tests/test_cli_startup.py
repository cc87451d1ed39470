"""The command line imports only what a command needs: a capture to a file
loads no dataframe, Arrow, progress-bar or plotting library, nor ringcap's
Parquet sinks and exporters (start-up is paid by every run; docs/cli.md)."""
import re
import socket

import subprocess
import sys

import pytest

from conftest import (TEST_ETHERTYPE, RingcapProcess, frame_seq, make_frame, sh, wait_until)

NOT_FOR_CAPTURE = {"pandas", "pyarrow", "tqdm", "rich", "matplotlib", "plotly",
                   "ringcap.sinks.parquet", "ringcap.export", "ringcap.capturing",
                   "ctypes.util",
                   # the flow meter: the flow sink's default is in the help text
                   "ringcap.flowmeter", "ringcap._flowmeter"}
# `ringcap -i IF -w FILE` writes pcap records straight from the ring: no batch,
# so no numpy (60-90 ms of its start-up), nor the modules built on it
NOT_FOR_CAPTURE_TO_FILE = NOT_FOR_CAPTURE | {
    "numpy", "ringcap.batch", "ringcap.ringview", "ringcap.filtering", "ringcap.headers",
    "ringcap.parallel", "ringcap.cli.printer", "ringcap.cli.pool", "ringcap.pcapfile.reader",
    # nor `threading` and `weakref` (3 M instructions: the ring's and the writer's
    # locks are _thread's; only -z's launcher and fanout groups need more)
    "threading", "weakref",
    # nor what only -z (subprocess, shutil), datasets (tempfile) and eBPF fanout need
    "tempfile", "subprocess", "shutil", "platform",
    # nor the `socket` module (its enums: 12 M instructions; `_socket` has the ioctl
    # socket and the interface names)
    "socket", "selectors",
    # nor `dataclasses` with `inspect` (ast, dis, tokenize): 63 M of its 186 M
    # instructions; its frozen records (Stats, SinkSummary, PumpResult, Rotation,
    # Fanout...) are ringcap._frozen's, dataclasses only when asked
    "dataclasses", "inspect"}

# `ringcap -r FILE` printing and `ringcap stats FILE` read a file: no sink (its
# rotation rules, signal handling and dataclasses), no pcap writer, and no
# `socket` module (its enums: 13 M instructions; the C `_socket` has what they
# use), `signal` or `threading` beyond what the command line itself needs
NOT_FOR_READING = {"socket", "signal", "selectors", "ringcap.sinks", "ringcap.pcapfile.writer"}


def _unwanted(imported, unwanted) -> list[str]:
    return sorted(name for name in imported
                  if any(name == u or name.startswith(u + ".") for u in unwanted))


# Runs the command line as `ringcap ARGS` does and says, at exit, which of the
# modules it must not need it had imported (sys.modules: whoever imported them).
MODULES_AT_EXIT = f"""
import atexit, runpy, sys
def report():
    unwanted = {sorted(NOT_FOR_CAPTURE_TO_FILE)!r}
    loaded = sorted(name for name in sys.modules
                    if name in unwanted or name.split(".")[0] in unwanted)
    print("MODULES AT EXIT", ",".join(loaded) or "-", file=sys.stderr, flush=True)
atexit.register(report)
sys.argv[0] = "ringcap"
runpy.run_module("ringcap", run_name="__main__", alter_sys=True)
"""


def test_capturing_to_a_file_imports_only_what_it_needs():
    # PYTHONPROFILEIMPORTTIME is `python -X importtime`: every module imported, on stderr
    cli = RingcapProcess("-i", "lo", "-w", "/dev/null", "-c", "1",
                         env={"PYTHONPROFILEIMPORTTIME": "1"})
    cli.wait_for("listening on")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        def done():
            sender.sendto(b"ringcap start-up", ("127.0.0.1", 9))
            return cli.proc.poll() is not None
        wait_until(done, 60, "ringcap to capture a packet on lo and exit")
    assert cli.finish() == 0, cli.err
    assert re.search(r"^1 packets? captured", cli.err, re.M), cli.err[-2000:]
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", cli.err, re.M))
    assert {"argparse", "ringcap.ring", "ringcap.sinks.pcap"} <= imported   # (parsed)
    loaded = {name for name in imported if name in NOT_FOR_CAPTURE_TO_FILE
              or name.split(".")[0] in NOT_FOR_CAPTURE_TO_FILE}
    assert not loaded, f"the capture path imported {sorted(loaded)}"


@pytest.mark.parametrize("size", [60, 1000], ids=["small-frames", "writev-frames"])
def test_capturing_to_a_file_never_imports_numpy(veth, tmp_path, size):
    """`ringcap -i IF -c N -w FILE FILTER` on a veth: the file holds exactly the
    first N frames sent, byte for byte, the summary counts them, and numpy,
    pandas, pyarrow and ringcap's batch modules were never imported (frames
    of 512 bytes and more go to the file by writev() from the ring's blocks,
    smaller ones through the staging buffer)."""
    path = tmp_path / "lean.pcap"
    cli = RingcapProcess("-i", veth.b, "-c", "300", "-w", path, "ether", "proto",
                         hex(TEST_ETHERTYPE), command=[sys.executable, "-c", MODULES_AT_EXIT])
    cli.wait_for("listening on")
    frames = [make_frame(i, size) for i in range(400)]
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sender:
        sender.bind((veth.a, 0))
        sh(f"ip link set {veth.a} txqueuelen 10000")
        for frame in frames:
            sender.send(frame)
    assert cli.finish() == 0, cli.err
    assert re.search(r"^300 packets captured$", cli.err, re.M), cli.err[-2000:]
    assert "MODULES AT EXIT -" in cli.err, cli.err[-2000:]
    # the file: tcpdump's count, and every record's bytes against what was sent
    out = subprocess.run(["tcpdump", "-nn", "-r", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # (unknown ethertypes get a hex dump on indented lines: count the packet lines)
    assert sum(not line.startswith("\t") for line in out.stdout.splitlines()) == 300
    import ringcap
    batch = ringcap.read_pcap(path)
    assert [frame_seq(p) for p in batch.packets()] == list(range(300))
    assert [bytes(p) for p in batch.packets()] == frames[:300]


def test_reading_a_file_of_large_packets_keeps_memory_small(tmp_path):
    """`ringcap -r` reads batches of 8,192 packets from maps of 16 MiB: 65,536
    packets of 1500 bytes would make windows of 100 MB, each page resident (a
    fresh buffer's, or the file's pages a map touched, which count too)."""
    import os
    import subprocess
    import sys

    import numpy as np

    import ringcap
    frame = bytes.fromhex("020000000002020000000001080045000592000140004011000"
                          "00a0000010a00000204d2000905720000") + bytes(1400)
    n = 70_000
    path = tmp_path / "large.pcap"
    ringcap.write_pcap(path, ringcap.Batch(ts=np.arange(n, dtype=np.int64) * 1000,
                                           caplen=np.full(n, len(frame)),
                                           data=np.tile(np.frombuffer(frame, np.uint8), n)))
    # the peak of the child's own memory (VmHWM: rusage would count ours from before exec)
    hook = ("import atexit, runpy, sys\n"
            "def peak():\n"
            "    for line in open('/proc/self/status'):\n"
            "        if line.startswith('VmHWM:'):\n"
            "            print('PEAK KIB', line.split()[1], file=sys.stderr)\n"
            "atexit.register(peak)\n"
            "sys.argv[0] = 'ringcap'\n"
            "runpy.run_module('ringcap', run_name='__main__', alter_sys=True)\n")
    proc = subprocess.run([sys.executable, "-c", hook, "-nn", "-r", str(path), "udp"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd="/",
                          timeout=300, env={**os.environ, "PYTHONPATH": os.path.dirname(
                              os.path.dirname(ringcap.__file__))})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"{n} packets read, {n} matched the filter" in proc.stderr
    peak = int(proc.stderr.split("PEAK KIB ")[1].split()[0])
    assert peak < 100 * 1024, f"peak memory {peak // 1024} MiB"


def test_the_max_flows_help_states_the_flow_sinks_default():
    # the capture's options do not import ringcap.flowmeter, so the help says the number
    from ringcap.cli import build_parser
    from ringcap.cli import capture
    from ringcap.flowmeter import DEFAULT_MAX_FLOWS
    text = " ".join(build_parser("capture", capture).format_help().split())
    assert f"written out early ({DEFAULT_MAX_FLOWS})" in text


def _three_udp_packets(tmp_path):
    """A pcap file of three 10.0.0.1.1234 > 10.0.0.2.9 UDP packets, 1 µs apart."""
    import numpy as np

    import ringcap
    frame = bytes.fromhex("020000000002020000000001080045000022000140004011000"
                          "00a0000010a00000204d20009000e0000") + b"ringcap!"
    path = tmp_path / "small.pcap"
    ringcap.write_pcap(path, ringcap.Batch(ts=np.arange(3, dtype=np.int64) * 1000,
                                           caplen=np.full(3, len(frame)),
                                           data=np.tile(np.frombuffer(frame, np.uint8), 3)))
    return path


def test_printing_a_file_imports_only_what_it_needs(tmp_path):
    """`ringcap -r FILE [FILTER]` prints a pcap file without batches: no numpy
    (60-70 ms of its start-up) nor ringcap's batch, header, filtering or
    reader modules or the batch printer (NOT_FOR_CAPTURE_TO_FILE), nor
    `dataclasses` (ringcap.pcapfile.records: a quarter of what was left); no
    dataframe, Arrow, plotting or progress library, Parquet sink, exporter,
    worker pool or flow meter; and, with or without a filter, no sink, pcap
    writer or `socket` (NOT_FOR_READING: 11% of its start-up's instructions
    when it did).  Forced to make batches (RINGCAP_READ_BATCHES=1, what a
    pcapng file or -w does), it prints the same lines through numpy."""
    import os
    import subprocess
    import sys

    import ringcap
    path = _three_udp_packets(tmp_path)
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1", "TZ": "UTC",
           "PYTHONPATH": os.path.dirname(os.path.dirname(ringcap.__file__))}
    env.pop("RINGCAP_READ_BATCHES", None)
    for extra, batches in (([], False), (["udp"], False), ([], True), (["udp"], True)):
        proc = subprocess.run([sys.executable, "-m", "ringcap", "-nn", "-r", str(path), *extra],
                              capture_output=True, text=True, cwd="/", timeout=300,
                              env={**env, "RINGCAP_READ_BATCHES": "1"} if batches else env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.splitlines() == [
            f"00:00:00.00000{i} IP 10.0.0.1.1234 > 10.0.0.2.9: UDP, length 6" for i in range(3)]
        imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", proc.stderr,
                                  re.M))
        if batches:
            assert {"numpy", "ringcap.cli.printer"} <= imported     # (the output is parsed)
            unwanted = NOT_FOR_CAPTURE | {"ringcap.parallel", "ringcap.cli.pool"}
        else:
            assert {"ringcap.cli.fileprint", "ringcap.cli.lineformat"} <= imported
            # nor the file's records, whose dataclasses were 44 M of its 164 M
            # instructions, nor -Z's privileges module with inspect (another 84 M)
            unwanted = NOT_FOR_CAPTURE_TO_FILE | {"dataclasses", "ringcap.pcapfile.records",
                                                  "inspect", "ringcap.cli.privileges"}
        loaded = {name for name in imported
                  if name in unwanted or name.split(".")[0] in unwanted}
        assert not loaded, f"printing a file imported {sorted(loaded)}"
        assert not _unwanted(imported, NOT_FOR_READING), \
            f"`ringcap -r F {' '.join(extra)}` imported {_unwanted(imported, NOT_FOR_READING)}"


def test_tshark_fields_of_a_file_import_only_what_they_need(tmp_path):
    """`ringcap fields -r FILE -e ... [FILTER]` decodes the names of a pcap
    file without numpy or the batch modules, as `ringcap -r` prints it (and
    nothing more: NOT_FOR_READING, dataclasses, -Z's privileges)."""
    import os
    import subprocess
    import sys

    import ringcap
    path = _three_udp_packets(tmp_path)
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1",
           "PYTHONPATH": os.path.dirname(os.path.dirname(ringcap.__file__))}
    unwanted = NOT_FOR_CAPTURE_TO_FILE | NOT_FOR_READING | {
        "dataclasses", "ringcap.pcapfile.records", "inspect", "ringcap.cli.privileges"}
    for extra in ([], ["udp"]):
        proc = subprocess.run([sys.executable, "-m", "ringcap", "fields", "-r", str(path), "-e",
                               "frame.len", "-e", "dns.qry.name", "-e", "http.host", *extra],
                              capture_output=True, text=True, cwd="/", timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout == "50\t\t\n" * 3
        imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", proc.stderr,
                                  re.M))
        assert "ringcap.cli.fileprint" in imported      # (the output is parsed)
        assert not _unwanted(imported, unwanted), \
            f"`ringcap fields` imported {_unwanted(imported, unwanted)}"


def test_file_statistics_import_only_what_they_need(tmp_path):
    """`ringcap stats [--json] FILE` (also with a filter) of a pcap file makes
    no batches: no numpy (a third of its start-up) nor ringcap's batch,
    header, filtering, reader or report modules, nor `dataclasses` and
    `inspect`; with batches (RINGCAP_READ_BATCHES=1, what pcapng or several
    files take) the same report through numpy.  Either way no dataframe,
    Arrow, plotting or progress library, no flow meter, and no `tempfile`
    (libpcap compiles filters on an in-memory stream), whose imports
    (shutil's compressors, random) cost every command 5-10 ms of start-up."""
    import json
    import os
    import subprocess
    import sys

    import ringcap
    path = _three_udp_packets(tmp_path)
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1",
           "PYTHONPATH": os.path.dirname(os.path.dirname(ringcap.__file__))}
    env.pop("RINGCAP_READ_BATCHES", None)
    for extra, batches in (([], False), (["-f", "udp port 9"], False), ([], True),
                           (["-f", "udp port 9"], True)):
        proc = subprocess.run([sys.executable, "-m", "ringcap", "stats", "--json", *extra,
                               str(path)], capture_output=True, text=True, cwd="/", timeout=300,
                              env={**env, "RINGCAP_READ_BATCHES": "1"} if batches else env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert json.loads(proc.stdout)["summary"]["packets"] == 3
        imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", proc.stderr, re.M))
        unwanted = NOT_FOR_CAPTURE | {"tempfile", "random", "ringcap.parallel"}
        if batches:
            assert {"numpy", "ringcap.report"} <= imported   # (the output is parsed)
        else:
            assert {"ringcap.cli.filestats", "ringcap.reportcore"} <= imported
            unwanted |= NOT_FOR_CAPTURE_TO_FILE | {"ringcap.report", "dataclasses", "inspect"}
        loaded = {name for name in imported
                  if name in unwanted or name.split(".")[0] in unwanted}
        assert not loaded, f"`ringcap stats {' '.join(extra)}` imported {sorted(loaded)}"
        assert not _unwanted(imported, NOT_FOR_READING), \
            f"`ringcap stats {' '.join(extra)}` imported {_unwanted(imported, NOT_FOR_READING)}"


def test_the_collector_is_on_again_once_a_command_has_loaded(tmp_path):
    """`python -m ringcap` makes no garbage collections while it loads (what
    it imports lives as long as the process), then freezes what it loaded
    and turns the collector on: what a command does after that is collected
    as usual."""
    import os

    import ringcap
    path = _three_udp_packets(tmp_path)
    code = ("import atexit, gc, runpy, sys\n"
            "atexit.register(lambda: print('COLLECTOR', gc.isenabled(), gc.get_freeze_count() > 0,"
            " file=sys.stderr))\n"
            "sys.argv[0] = 'ringcap'\n"
            "runpy.run_module('ringcap', run_name='__main__', alter_sys=True)\n")
    proc = subprocess.run([sys.executable, "-c", code, "-nn", "-r", str(path)],
                          capture_output=True, text=True, cwd="/", timeout=300,
                          env={**os.environ, "PYTHONPATH": os.path.dirname(
                              os.path.dirname(ringcap.__file__))})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(proc.stdout.splitlines()) == 3
    assert "COLLECTOR True True" in proc.stderr, proc.stderr[-2000:]


BLAS_THREADS_AFTER_IMPORT = """
import os, sys, time
import ringcap
assert "numpy" in sys.modules
""" + (BLAS_THREADS_ASLEEP := """
main = str(os.getpid())
def others():
    states = {}
    for tid in os.listdir("/proc/self/task"):
        if tid != main:
            stat = open(f"/proc/self/task/{tid}/stat").read()
            states[tid] = stat.rsplit(")", 1)[1].split()[0]
    return states
deadline = time.monotonic() + 60
while any(state not in "SD" for state in others().values()) and time.monotonic() < deadline:
    time.sleep(0.01)
ran = [int(open(f"/proc/self/task/{tid}/schedstat").read().split()[0]) for tid in others()]
print(os.environ.get("OPENBLAS_THREAD_TIMEOUT"), len(ran), max(ran, default=0))
""")


def test_importing_ringcap_leaves_numpys_blas_threads_asleep():
    """numpy's OpenBLAS starts a thread per further core as it loads, and each
    spins for work ~0.1 s of CPU before sleeping (a third of a process that
    streams a million packets).  `import ringcap` before numpy has them sleep
    at once, and puts the environment back; a timeout the user set stays."""
    import os
    import subprocess
    import sys

    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("OPENBLAS_", "GOTO_", "OMP_"))}
    out = subprocess.run([sys.executable, "-c", BLAS_THREADS_AFTER_IMPORT], env=env, cwd="/",
                         capture_output=True, text=True, timeout=120, check=True).stdout.split()
    assert out[0] == "None"                          # the environment is the user's again
    if (os.cpu_count() or 1) > 1:
        assert int(out[1]) >= 1, "numpy's OpenBLAS started no thread: nothing is tested"
    # CPU each thread ran (ns, /proc/<pid>/task/<tid>/schedstat), once all of them sleep:
    # ~0.1 ms for a thread that went to sleep at once, 20-100 ms for one that spun
    assert int(out[2]) < 10_000_000, f"an OpenBLAS thread ran {int(out[2]) / 1e6:.1f} ms"
    mine = subprocess.run([sys.executable, "-c", "import os, ringcap; "
                           "print(os.environ['OPENBLAS_THREAD_TIMEOUT'])"], cwd="/",
                          env={**env, "OPENBLAS_THREAD_TIMEOUT": "20"},
                          capture_output=True, text=True, timeout=120, check=True).stdout
    assert mine.split() == ["20"]


def test_numpy_imported_later_by_the_command_line_leaves_blas_threads_asleep():
    """The command line imports numpy only when a command needs batches (a
    printer, a pool, -r), long after `import ringcap`: OpenBLAS's threads
    (here asked for, OPENBLAS_NUM_THREADS=2) still start asleep.  The short
    spin is in the command line's environment from its start (its own
    processes, workers and -z commands, inherit it, as they inherit
    OPENBLAS_NUM_THREADS=1 when the user set none)."""
    import os
    import subprocess
    import sys

    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("OPENBLAS_", "GOTO_", "OMP_"))}
    code = ("import os, sys, time; sys.argv[0] = 'ringcap'\n"
            "import ringcap.cli.capture\n"
            "assert 'numpy' not in sys.modules, 'the capture command imported numpy'\n"
            "from ringcap.cli import printer\n"       # (what printing packets imports)
            "assert 'numpy' in sys.modules\n" + BLAS_THREADS_ASLEEP)
    out = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True,
                         env={**env, "OPENBLAS_NUM_THREADS": "2"}, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    timeout, threads, most = out.stdout.split()
    assert timeout == "4"                             # OpenBLAS's least spin: 2**4 cycles
    if (os.cpu_count() or 1) > 1:
        assert int(threads) >= 1, "numpy's OpenBLAS started no thread: nothing is tested"
    assert int(most) < 10_000_000, f"an OpenBLAS thread ran {int(most) / 1e6:.1f} ms"


LOADERS_AFTER_IMPORT = """
import copy, importlib.machinery, pickle, sys
if sys.argv[1:] == ["command-line"]:
    sys.argv[0] = "ringcap"
import ringcap
import ringcap.batch, numpy
for module in (numpy, ringcap.batch):
    for loader in (module.__loader__, module.__spec__.loader):
        assert type(loader) is importlib.machinery.SourceFileLoader, (module, loader)
    assert copy.deepcopy(module.__spec__).loader.name == module.__name__
    assert pickle.loads(pickle.dumps(module.__loader__)).name == module.__name__
print("ok")
"""


@pytest.mark.parametrize("how", ["library", "command-line"])
def test_numpy_and_the_batch_module_keep_their_own_loaders(how):
    """ringcap loads numpy and ringcap.batch with their own loaders: a
    wrapper (the import hooks ringcap's `__init__` once had) left as
    numpy.__loader__ made copy.deepcopy and pickle of it recurse until
    RecursionError, and was no SourceFileLoader to whoever looks at the
    loader's type."""
    import os
    out = subprocess.run([sys.executable, "-c", LOADERS_AFTER_IMPORT, how], cwd="/",
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(
                             __import__("ringcap").__file__))})
    assert out.returncode == 0 and out.stdout.split() == ["ok"], out.stderr[-2000:]


BATCH_MODULES = ("numpy", "ringcap.batch", "ringcap.ringview")


@pytest.mark.parametrize("options, name", [
    ([], "f.pcapng"), (["-C", "1"], "f.pcap"), (["-G", "3600"], "f.pcap"),
    (["-Q", "out"], "f.pcap")], ids=["pcapng", "-C", "-G", "-Q-out"])
def test_captures_that_make_batches_import_numpy_before_listening(veth, tmp_path, options,
                                                                    name):
    """pcapng, rotation and -Q out write batches: numpy and the batch modules
    load before "listening on", as they did when `import ringcap` loaded
    them.  Loaded with the first batch instead, their 60-150 ms stall the
    drain just as traffic begins (found with -B 2048 and a burst of 3,000
    1400-byte frames sent on "listening on": 185-984 dropped by the kernel
    with -C or pcapng, none with a plain pcap file or before the change)."""
    path = tmp_path / name
    cli = RingcapProcess("-i", veth.a, *options, "-c", "5", "-w", path, "ether", "proto",
                         hex(TEST_ETHERTYPE), env={"PYTHONPROFILEIMPORTTIME": "1"})
    cli.wait_for("listening on")
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sender:
        sender.bind((veth.a, 0))
        for i in range(5):
            sender.send(make_frame(i))
    assert cli.finish() == 0, cli.err
    assert re.search(r"^5 packets captured$", cli.err, re.M), cli.err[-2000:]
    before, after = cli.err.split("listening on", 1)
    imports = r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)"
    # (-X importtime lists what `import` statements load: numpy and ringcap.batch)
    assert {"numpy", "ringcap.batch"} <= set(re.findall(imports, before, re.M)), before[-2000:]
    late = [module for module in re.findall(imports, after, re.M)
            if module.startswith(BATCH_MODULES)]
    assert not late, f"imported after 'listening on': {late}"
    out = subprocess.run(["tcpdump", "-nn", "-r", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert sum(not line.startswith("\t") for line in out.stdout.splitlines()) == 5
