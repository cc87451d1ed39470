"""README's speed numbers are the ones the last claims run recorded.

``python benchmarks/run.py --claims`` writes docs/claims.json; every speed
number in README.md carries a marker naming the entry it comes from,
``0.31x<!-- claim:print:imix -->`` (the ratio) or
``1.2 s<!-- claim:print:imix/ours -->`` (ringcap's figure; ``/theirs`` the
peer's), and must read exactly as that entry states it.  Markers in
docs/*.md are checked the same way.  No benchmark runs here.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLAIMS = ROOT / "docs" / "claims.json"
MARKED = re.compile(r"(?P<num>\d[\d,]*(?:\.\d+)?)(?P<unit>[^<>\d]{0,16}?)"
                    r"<!-- claim:(?P<id>[\w:.\-]+?)(?:/(?P<field>ratio|ours|theirs))? -->")
# a number about speed: a ratio (2.3x, 24×) or a rate or a time per packet
SPEED = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?\s?(?:x(?![\w])|×|ns\b|µs\b|GB/s|MB/s|"
                   r"Mpackets/s|packets/s|Mpps|kpps)")


def load_claims() -> dict[str, dict]:
    data = json.loads(CLAIMS.read_text())
    return {row["id"]: row for row in data["claims"]}


def prose(text: str) -> str:
    """The text without fenced code blocks and without indented (4-space) code lines."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return "\n".join(line for line in text.splitlines() if not line.startswith("    "))


def mismatches(text: str, claims: dict[str, dict]) -> list[str]:
    """Every marked number in ``text`` that is not what its claims.json entry states."""
    bad = []
    for m in MARKED.finditer(text):
        row = claims.get(m["id"])
        field = m["field"] or "ratio"
        if row is None:
            bad.append(f"{m.group(0)!r}: no claim {m['id']!r} in docs/claims.json")
        elif row["stated"].get(field) != m["num"]:
            bad.append(f"{m.group(0)!r}: the run recorded {row['stated'].get(field)!r}")
    return bad


def unmarked(text: str) -> list[str]:
    """Speed numbers in ``text``'s prose with no claim marker right after them."""
    out = []
    for m in SPEED.finditer(prose(text)):
        rest = prose(text)[m.end():m.end() + 20].lstrip()
        if not rest.startswith("<!-- claim:"):
            out.append(prose(text)[max(0, m.start() - 40):m.end() + 10].replace("\n", " "))
    return out


def test_claims_json_is_a_recorded_run():
    data = json.loads(CLAIMS.read_text())
    assert data["run"]["command"].startswith("python benchmarks/run.py --claims")
    assert {"uniform", "imix", "large", "recorded"} <= set(data["mixes"])
    for row in data["claims"]:
        stated = float(row["stated"]["ratio"].replace(",", ""))
        digits = row["stated"]["ratio"].split(".")[1] if "." in row["stated"]["ratio"] else ""
        assert abs(stated - row["ratio"]) <= 0.5 * 10 ** -len(digits) + 1e-9, row["id"]
        assert row["traffic"] and row["target"]


@pytest.mark.parametrize("doc", ["README.md"] + sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")))
def test_marked_numbers_are_the_recorded_ones(doc):
    assert mismatches((ROOT / doc).read_text(), load_claims()) == []


def test_readme_numbers_all_cite_a_claim():
    text = (ROOT / "README.md").read_text()
    assert MARKED.search(text), "README.md states no measured number"
    assert unmarked(text) == []


def test_a_number_edited_by_hand_is_caught():
    text = (ROOT / "README.md").read_text()
    claims = load_claims()
    m = MARKED.search(text)
    edited = text[:m.start("num")] + m["num"] + "1" + text[m.end("num"):]
    assert mismatches(edited, claims)
    assert unmarked("ringcap is 3.5x faster than tcpdump.")
    assert not unmarked("ringcap is 3.5x<!-- claim:print:imix --> faster.")


def test_a_full_benchmark_run_keeps_the_claims_and_the_hand_written_investigations(
        tmp_path, monkeypatch):
    """`python benchmarks/run.py` rewrites docs/benchmarks.md from its own run; the
    claims table and the dated investigations written by hand must survive it
    (the investigations were inside a generated section and would have gone)."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import claims
    import run
    monkeypatch.setattr(run, "versions", lambda: {
        "kernel": "k", "python": "p", "numpy": "n", "pcapy-ng": "-", "pypcap": "-",
        "scapy": "-"})
    original = (ROOT / "docs" / "benchmarks.md").read_text()
    notes, table = claims.notes_block(original), claims.claims_block(original)
    assert "(7 December 2026)" in notes and claims.NOTES_HEADING in original
    assert table.count("| `") > 20
    doc = tmp_path / "benchmarks.md"
    doc.write_text(original)
    run.write_report([], [], {}, "python benchmarks/run.py", 1.0, doc)
    again = doc.read_text()
    assert again != original                     # rewritten: no run's sections are left
    assert claims.notes_block(again) == notes and claims.claims_block(again) == table
    run.write_report([], [], {}, "python benchmarks/run.py", 1.0, doc)
    assert doc.read_text() == again              # kept once, not appended at every run


def test_the_page_cache_bound_is_stated_beside_open_pcap_and_flows(tmp_path, monkeypatch):
    """`open-pcap` and `flows` rows carry the map floor's bound and the file's folios;
    the table shows the bound in the first bound column and the folios under it."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import claims
    data = json.loads(CLAIMS.read_text())
    row = claims.result("open-pcap", "recorded", 12.5, ours=0.08, theirs=1.0, unit="wall s",
                        floor=0.07, bound=1.0 / 0.07, page_cache="94% 4 KiB folios")
    data["claims"] = [r for r in data["claims"] if r["id"] != "open-pcap:recorded"] + [row]
    lines = claims.table(data)
    ours = next(line for line in lines if line.startswith("| `open-pcap:recorded` |"))
    assert ours.split(" | ")[6:8] == ["14", ""]       # bound, then no `python -c pass` one
    assert any("`open-pcap:recorded` 94% 4 KiB folios" in line for line in lines)
    assert any("ringcap started (or map floor)" in line for line in lines)


def test_page_cache_folio_orders_and_the_map_floor(tmp_path, monkeypatch):
    """bench_page_cache.py: a compound head and its tails are one folio; the map
    floor maps every page of a file; a file just written is all in the page cache
    (its folios by order when /proc/kpageflags can be read), and measuring it
    leaves nothing mapped."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import bench_page_cache as pc
    head, tail = 1 << 15, 1 << 16
    assert pc.folio_orders([0, head, tail, tail, tail, 0, head, tail]) == {0: 2, 2: 4, 1: 2}
    assert pc.folio_orders([head] + [tail] * 511) == {9: 512}
    assert pc.folio_orders([head, tail, tail]) == {2: 3}          # 3 pages round up
    assert pc.describe({"pages": 4, "cached": 4, "orders": {0: 2, 9: 2}}) == (
        "100% cached: 50% 4 KiB, 0% 8 KiB-1 MiB, 50% 2 MiB folios")
    assert pc.describe({"pages": 4, "cached": None, "orders": None}) == "n/a"
    path = tmp_path / "f.pcap"
    path.write_bytes(b"\xab" * (3 * pc.PAGE + 1))
    assert pc.map_floor(str(path), 2 * pc.PAGE) == 4
    makeup = pc.folio_makeup(str(path))
    assert makeup["pages"] == 4 and makeup["cached"] == 4
    if makeup["orders"] is not None:
        assert sum(makeup["orders"].values()) == 4
    maps = Path("/proc/self/maps").read_text()
    assert str(path) not in maps
