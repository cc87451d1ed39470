"""`ringcap stats FILE` of a classic pcap file without batches (no numpy).

The records are walked as ``ringcap -r`` prints them (:mod:`ringcap.cli.fileprint`:
the file mapped in windows, the reader's nogil parser, ringcap's BPF
interpreter for ``-f``), decoded with ``_decode.decode_into`` into
``array`` columns reused chunk after chunk, their DNS queries, TLS server
names and HTTP hosts read by ``_app.decode_strings``, and folded into the
report's compiled counters (:class:`ringcap.reportcore.ReportCounts`), whose
rows both paths print.  Its output, messages and exit status are those of
:func:`ringcap.report.file_report` (``stats`` decides in
:func:`lean_source` which files go this way; ``RINGCAP_READ_BATCHES=1``
forces batches, for the tests that compare the two).
"""
from __future__ import annotations

import os
from array import array

from .. import _app, _bpf, _decode
from ..bpf import compile_filter, pack
from ..linktypes import LINKTYPE_ETHERNET
from ..reportcore import FileInfo, ReportCounts, file_info
from .fileprint import ChunkSelector, PlainPcap, _Chunks, _columns, open_plain_pcap

# what the report decodes (TrafficReport's HeadersBuffer with track_names:
# its header columns and those the application pass needs), as array typecodes
_HEADER = {"ethertype": "H", "ip_version": "B", "ip_proto": "B", "sport": "H", "dport": "H",
           "payload_offset": "H", "payload_len": "I", "flags": "I"}
_ADDRESSES = ("ip_src", "ip_dst")
# names counted (NAME_KINDS) and their string columns; the report asks for
# app_proto, which makes the pass look for every protocol (appcolumns.protocols_of)
_NAMES = (("tls_sni", "tls_sni"), ("http_host", "http_host"), ("dns_query", "dns_qname"))
_PROTOCOLS = tuple(sorted(_app.APP_PROTOCOLS))
_DNS = _app.APP_PROTOCOLS["dns"]


def lean_source(args, paths: list[str]) -> PlainPcap | None:
    """The one file to report on, opened, when it can go without batches: a
    classic pcap file of a link type ringcap decodes, given alone; else None
    (``-`` too: the batch path says why standard input is not read)."""
    if len(paths) != 1 or paths[0] == "-" or os.environ.get("RINGCAP_READ_BATCHES"):
        return None
    return open_plain_pcap(paths[0])


class _Interface:
    """A classic pcap file's one interface, as the reader lists it."""

    def __init__(self, source: PlainPcap) -> None:
        self.index, self.name = 0, None
        self.linktype, self.snaplen = source.linktype, source.snaplen


class _Folder(ChunkSelector):
    """Decode chunks of records into reused columns and fold them into a report."""

    def __init__(self, source: PlainPcap, report: ReportCounts) -> None:
        super().__init__(source.linktype, None)
        self.report = report
        self.ports, self.rule = _app.candidate_rule(_PROTOCOLS)

    def _grow(self, rows: int) -> None:
        if rows > self.rows:
            self.header = dict(zip(_HEADER, _columns(_HEADER.values(), rows)))
            self.addresses = [bytearray(16 * rows) for _ in _ADDRESSES]
            self.app_rows, self.app_proto, self.dns_qr = _columns("qBB", rows)
            self.offsets = {column: array("i", [0]) * (rows + 1) for _, column in _NAMES}
        super()._grow(rows)

    def fold(self, data, ts, caplen, wirelen, offset) -> None:
        n = len(ts)
        if n == 0:
            return
        vlan_tci, vlan_tpid, _, status = (memoryview(c)[:n] for c in self.zeros[3:7])
        linktype = memoryview(self.linktypes)[:n]
        h = {name: memoryview(column)[:n] for name, column in self.header.items()}
        src, dst = (memoryview(a)[:16 * n].cast("B", (n, 16)) for a in self.addresses)
        # (an Ethernet file's column of ones left out: the decoder would check
        # each packet's link type again, 4 M instructions on uniform)
        count = _decode.decode_into(data, offset, caplen, wirelen, status, vlan_tci, vlan_tpid,
                                    {**h, "ip_src": src, "ip_dst": dst}, False,
                                    None if self.linktype == LINKTYPE_ETHERNET else linktype,
                                    self.ports, self.rule, self.app_rows)
        report = self.report
        report._fold_counts(linktype, h["ethertype"], h["ip_proto"], h["ip_version"], h["flags"],
                            wirelen, caplen, ts, n)
        if count:
            found = _app.decode_strings(
                data, offset, caplen, *(h[name] for name in
                                        ("ip_proto", "sport", "dport", "payload_offset",
                                         "payload_len", "flags")),
                _PROTOCOLS, memoryview(self.app_rows)[:count], self.app_proto, self.dns_qr,
                self.offsets)
            for kind, column in _NAMES:
                for i, name in found[column]:
                    if kind != "dns_query" or (self.app_proto[i] == _DNS
                                               and self.dns_qr[i] == 0):
                        report._count_name(kind, name)
        report._add_conversations(src, dst, h["ip_version"], ts, wirelen)


def _program(expression: str, linktype: int) -> bytes:
    """The filter as ``stats`` compiles it for a file (LinkTypeFilter's defaults)."""
    program = pack(compile_filter(expression, file_linktype=linktype))
    _bpf.check_program(program)
    return program


def file_report(source: PlainPcap, *, filter: str | None,
                report: ReportCounts) -> tuple[ReportCounts, list[FileInfo]]:
    """:func:`ringcap.report.file_report` of one classic pcap file."""
    folder = _Folder(source, report)
    chunks = _Chunks(source)
    try:
        for n in chunks.each():
            if filter is not None and folder.program is None:
                folder.program = _program(filter, source.linktype)   # (at the first packet)
            _, _, columns = folder.select(chunks, n, None)
            folder.fold(chunks.data, *columns)
    finally:
        chunks.release()
    source.format, source.stats, source.interfaces = "pcap", [], [_Interface(source)]
    return report, [file_info(source.path, source)]
