"""`ringcap stats --json` writes json.dumps(indent=1)'s bytes without importing json."""
from __future__ import annotations

import json
import math
import struct
import subprocess
import sys

import pytest

from ringcap.cli.jsontext import dumps_indent1

DOCUMENTS = [
    {}, [], (), "", 0, -1, 2**70, -(2**70), 0.0, -0.0, 1.5, 1e-300, 1e300, 0.1 + 0.2,
    math.nan, math.inf, -math.inf, True, False, None,
    "plain", 'quote " and backslash \\ and / slash', "tab\tnew\nline\r\x00\x1f\x7f",
    "caf\u00e9 \u2603 \U0001F600 \udcff",
    {"a": {}, "b": [], "c": [{}], "d": [[[]]], "e": {"f": {"g": [1, [2, {"h": None}]]}}},
    {"summary": {"packets": 1, "duration": 0.0, "time_ordered": True, "first_ts": None},
     "rates": {"packets": [1, 2, 3], "bytes": (4, 5)}, "names": {"tls_sni": []}},
    [1, "two", 3.0, [False, None], {"k\u00e9y": "v\n"}],
    {"an int subclass": True.__class__(1), "keys keep their order": 1, "a": 2},
]


@pytest.mark.parametrize("document", DOCUMENTS, ids=range(len(DOCUMENTS)))
def test_the_same_bytes_as_json_dumps_indent_1(document):
    assert dumps_indent1(document) == json.dumps(document, indent=1)


def test_what_json_encodes_its_own_way_is_left_to_json():
    """Keys that are not strings (json writes them as strings), and what json
    refuses, with json's own error."""
    document = {"rows": {1: "one", 2.5: "two and a half", True: "yes", None: "nothing"}}
    assert dumps_indent1(document) == json.dumps(document, indent=1)
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps_indent1({"a": [1, {2, 3}]})
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps_indent1(loop)


def test_stats_json_imports_no_json(tmp_path):
    """`ringcap stats --json` of a classic pcap file prints a document json
    reads, the same as json.dumps(indent=1) of it, without loading the json
    package (5.4 M instructions of its start-up)."""
    packet = bytes(12) + b"\x08\x00" + bytes.fromhex("4500001c000000004011") + bytes(2) \
        + bytes([10, 0, 0, 1, 10, 0, 0, 2]) + bytes.fromhex("0009000900080000")
    path = tmp_path / "one.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
                     + struct.pack("<IIII", 1_700_000_000, 5, len(packet), len(packet))
                     + packet)
    hook = ("import atexit, runpy, sys\n"
            "atexit.register(lambda: print('JSON', 'json' in sys.modules, file=sys.stderr))\n"
            "sys.argv[0] = 'ringcap'\n"
            "runpy.run_module('ringcap', run_name='__main__', alter_sys=True)\n")
    proc = subprocess.run([sys.executable, "-c", hook, "stats", "--json", str(path)],
                          capture_output=True, text=True, cwd="/", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "JSON False" in proc.stderr
    report = json.loads(proc.stdout)
    assert report["summary"]["packets"] == 1
    assert report["conversations"][0]["a"] == "10.0.0.1"
    assert proc.stdout == json.dumps(report, indent=1) + "\n"
