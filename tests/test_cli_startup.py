"""The command line imports only what a command needs: a capture to a file
loads no dataframe, Arrow, progress-bar or plotting library, nor ringcap's
Parquet sinks and exporters (start-up is paid by every run; docs/cli.md)."""
import re
import socket

from conftest import RingcapProcess, wait_until

NOT_FOR_CAPTURE = {"pandas", "pyarrow", "tqdm", "rich", "matplotlib", "plotly",
                   "ringcap.sinks.parquet", "ringcap.export", "ringcap.capturing",
                   "ctypes.util"}


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
    assert {"numpy", "ringcap.ring", "ringcap.sinks.pcap"} <= imported   # the output is parsed
    loaded = {name for name in imported
              if name in NOT_FOR_CAPTURE or name.split(".")[0] in NOT_FOR_CAPTURE}
    assert not loaded, f"the capture path imported {sorted(loaded)}"
