"""`ringcap fields -r FILE -e FIELD [-e FIELD ...] [FILTER]`: tshark's ``-T fields``.

Prints what ``tshark -n -r FILE -T fields -e FIELD ...`` prints for the
application names and numbers ringcap decodes: a line per packet, the fields
separated by tabs, empty where a packet has none, several values of a field
in one packet joined by commas.  A field is named as tshark names it
(``dns.qry.name``, ``dns.id``) or as ringcap's column (``dns_qname``,
``dns_id``); a number is shown where tshark shows it (``TSHARK_NUMBERS``),
decided by ``_app.field_lines``, not per packet here; tshark's
``frame.number``, ``frame.time_epoch``, ``frame.len`` and ``frame.cap_len``
come from the records.  A classic pcap
file is read without numpy, as ``ringcap -r`` prints one
(:mod:`ringcap.cli.fileprint`'s chunks over ``array`` columns, then
``_decode.decode_into`` and ``_app.decode_app`` in tshark's text); pcapng,
pipes and anything else go through batches (``open_pcap``), with the same
passes and the same lines.  Each message is decoded from the packet that
starts it (tshark reassembles TCP: docs/cli.md lists what differs).
"""
from __future__ import annotations

import sys
from array import array

from .. import _app, _decode
from ..linktypes import LINKTYPE_ETHERNET, LINKTYPE_NAMES
from .fileprint import (ChunkSelector, _Chunks, _columns, open_plain_pcap,
                        program_for)
from .lineformat import write_whole
from .options import CliError, output_error, require_stdout
from ..stopsignals import StopSignals

# tshark's exit status when its reader has gone (`| head -1`), without a word
BROKEN_PIPE_STATUS = 2

# tshark's field -> ringcap's string column, where both hold the same text
TSHARK_FIELDS = {
    "dns.qry.name": "dns_qname",
    "http.request.method": "http_method",
    "http.request.uri": "http_path",
    "http.host": "http_host",
    "http.user_agent": "http_user_agent",
    "dhcp.option.hostname": "dhcp_hostname",
    "tls.handshake.extensions_server_name": "tls_sni",
    "ja4.ja4": "tls_ja4",
}
STRING_COLUMNS = tuple(name for name, kind, _ in _app.COLUMN_LAYOUT if kind == "str")
# tshark's numeric field -> ringcap's fixed-width column, where it holds what
# tshark prints, and when tshark shows it: (column, field_lines' kind, gate,
# nonzero, least, whole_from) -- on the messages of the column's protocol
# (DNS: mDNS and LLMNR too) where ``gate`` (column, low, high) holds, if
# ``nonzero`` where the column is not 0 (the decoder's "none"), where at least
# ``least`` bytes of the payload were captured; over TCP, where the whole
# payload was captured (tshark reassembles nothing past a segment cut short),
# elsewhere not where a message is cut short with ``whole_from`` bytes or more
# captured (-1: none; DHCP: its options cut short show nothing in tshark).
# Like the names, a TCP message's numbers are in the line of the packet that
# starts it; tshark's, in that of the segment that completes it
TSHARK_NUMBERS = {
    "dns.id": ("dns_id", "hex16", None, False, 4, -1),
    "dns.flags.response": ("dns_qr", "u8", None, False, 4, -1),
    "dns.flags.opcode": ("dns_opcode", "u8", None, False, 4, -1),
    "dns.flags.rcode": ("dns_rcode", "u8", ("dns_qr", 1, 1), False, 4, -1),     # responses
    "dns.count.answers": ("dns_ancount", "u16", None, False, 8, -1),
    "http.response.code": ("http_status", "u16", None, True, 0, -1),           # responses
    "ntp.flags.vn": ("ntp_version", "u8", None, False, 1, -1),
    "ntp.flags.mode": ("ntp_mode", "u8", None, False, 1, -1),
    "ntp.stratum": ("ntp_stratum", "u8", ("ntp_mode", 0, 5), False, 2, -1),     # not control
    "dhcp.option.dhcp": ("dhcp_msg_type", "u8", None, True, 0, 240),
    "dhcp.hw.mac_addr": ("dhcp_client_mac", "mac", None, False, 34, 240),   # Ethernet
    "dhcp.option.requested_ip_address": ("dhcp_requested_ip", "ipv4", None, True, 0, 240),
}
NUMBER_COLUMNS = {column: spec for column, *spec in TSHARK_NUMBERS.values()}
# fields tshark can print several values of in one packet, where ringcap's
# column holds one: refused, with why
SEVERAL_VALUES = {
    "dns.qry.type": "a type per question (1,28 for two)",
    "dns_qtype": "a type per question (1,28 for two)",
    "tls.handshake.ciphersuite": "every suite a ClientHello offers",
    "tls_cipher": "every suite a ClientHello offers",
    "tls.handshake.type": "every handshake message of a record",
    "tls_handshake": "every handshake message of a record",
    "dns.a": "every A record of the answers",
    "dns.aaaa": "every AAAA record of the answers",
}
_TYPECODES = {"u1": "B", "u2": "H", "u4": "I"}
_LAYOUT = {name: (kind, width) for name, kind, width in _app.COLUMN_LAYOUT}
# tshark's frame fields, from the record: field -> what it is made of
FRAME_FIELDS = {"frame.number": "number", "frame.time_epoch": "ts", "frame.len": "wirelen",
                "frame.cap_len": "caplen"}
# every name a field is given by -> its column (or frame field)
FIELDS = {**FRAME_FIELDS, **TSHARK_FIELDS, **{name: name for name in STRING_COLUMNS},
          **{field: spec[0] for field, spec in TSHARK_NUMBERS.items()},
          **{name: name for name in NUMBER_COLUMNS}}
# tshark's protocols below the application whose fields ringcap fields does not
# print (their values are decode()'s columns): an unknown field of one says where
LOWER_LAYERS = ("eth", "sll", "vlan", "arp", "ip", "ipv6", "icmp", "icmpv6", "tcp", "udp")
# the header columns the application pass reads, and their array typecodes
_HEADER = {"ip_proto": "B", "sport": "H", "dport": "H", "payload_offset": "H",
           "payload_len": "I", "flags": "I"}
_BUFFER_BYTES = 4 << 20


def add_arguments(parser) -> None:
    parser.add_argument("-r", dest="read", required=True, metavar="FILE",
                        help="the pcap or pcapng file to read ('-': standard input)")
    parser.add_argument("-e", dest="fields", action="append", required=True, metavar="FIELD",
                        help="a field to print, by tshark's name (dns.qry.name, "
                             "tls.handshake.extensions_server_name, http.host, dns.id, "
                             "http.response.code...) or ringcap's column (dns_qname, "
                             "dns_id...); repeat for more")
    parser.add_argument("expression", nargs="*", metavar="FILTER",
                        help="print only the packets a tcpdump filter expression accepts")
    # a tshark user's command line as it is: -n and -T fields are what this prints
    parser.add_argument("-n", dest="no_resolve", action="store_true",
                        help="tshark's: no name resolution (ringcap resolves no names)")
    parser.add_argument("-T", dest="output_format", choices=["fields"], default="fields",
                        help="tshark's output format: fields, the only one")
    parser.add_argument("-Y", dest="display_filter", metavar="DISPLAY_FILTER",
                        help="refused: give a tcpdump filter after the fields instead")
    parser.add_argument("-c", dest="count", metavar="N",
                        help="tshark's: read only the first N packets (a filter then "
                             "prints those of them it accepts)")
    parser.add_argument("-E", dest="line_options", action="append", default=[],
                        metavar="OPTION",
                        help="tshark's: header=y (a first line of the field names), "
                             "separator=/t|/s|CHAR, quote=d|s|n (around values not empty)")


def line_style(options: list[str]) -> tuple[bool, int, int]:
    """tshark's ``-E`` options: (header, separator byte, quote byte or 0)."""
    header, separator, quote = False, 0x09, 0
    for option in options:
        name, _, value = option.partition("=")
        if name == "header" and value in ("y", "n"):
            header = value == "y"
        elif name == "separator" and value and (value in ("/t", "/s") or
                                                 not value.startswith("/")):
            # (tshark takes a value's first character, "ab" as "a")
            separator = {"/t": 0x09, "/s": 0x20}.get(value) or ord(value[0])
            if separator > 0x7F:
                raise CliError(f"-E {option}: the separator must be an ASCII character, "
                               "/t or /s")
        elif name == "quote" and value in ("d", "s", "n"):
            quote = {"d": 0x22, "s": 0x27, "n": 0}[value]
        elif name in ("occurrence", "aggregator") and value:
            raise CliError(f"-E {option}: ringcap prints one value of each field a packet "
                           "(tshark's first: several-valued fields are refused); take out "
                           f"-E {name}")
        else:
            raise CliError(f"-E {option}: ringcap takes tshark's header=y|n, "
                           "separator=/t|/s|CHAR and quote=d|s|n")
    return header, separator, quote


def packet_count(text: str | None) -> int | None:
    """tshark's ``-c N``, refused in its words."""
    if text is None:
        return None
    if not text.strip().lstrip("-").isdigit():
        raise CliError(f'The specified packet count "{text}" isn\'t a decimal number')
    value = int(text)
    if value < 0:
        raise CliError(f'The specified packet count "{text}" is a negative number')
    if value == 0:
        raise CliError("The specified packet count is zero")
    return value


def columns_of(fields: list[str]) -> list[str]:
    """The column (or frame field) of each field name; CliError naming the unknown ones."""
    several = [field for field in fields if field in SEVERAL_VALUES]
    if several:
        raise CliError("Some fields can hold several values in a packet, where ringcap "
                       "decodes one: " + "; ".join(f"{field} ({SEVERAL_VALUES[field]})"
                                                  for field in several))
    unknown = [field for field in fields if field not in FIELDS]
    if unknown:
        lower = [field for field in unknown if field.split(".")[0] in LOWER_LAYERS]
        hint = "" if not lower else (
            f". {', '.join(lower)}: ringcap fields prints the application fields; a "
            "packet's addresses, ports and protocols are in `ringcap -nn -r FILE`'s lines "
            "and in decode()'s columns (ringcap.decode(ringcap.read_pcap(FILE)).to_pandas(): "
            "ip_src, ip_dst, ip_proto, sport, dport, eth_src, eth_dst, ttl)")
        raise CliError(f"Some fields aren't valid: {', '.join(unknown)}; known fields: "
                       f"{', '.join(FIELDS)}{hint}")
    return [FIELDS[field] for field in fields]


class FieldLines:
    """Decode chunks of packets into the string and fixed-width columns
    asked for, in tshark's text, and write their lines; the columns reused
    chunk after chunk.  The lean path and the batch path both call
    :meth:`write`."""

    def __init__(self, columns: list[str], separator: int = 0x09, quote: int = 0) -> None:
        self.columns = columns
        self.separator, self.quote = separator, quote
        self.header_line = b""
        self.wanted = tuple(dict.fromkeys(c for c in columns if c in STRING_COLUMNS))
        numbers = tuple(dict.fromkeys(c for c in columns if c in NUMBER_COLUMNS))
        gates = (NUMBER_COLUMNS[name][1] for name in numbers)
        self.fixed_names = tuple(dict.fromkeys(
            ("app_proto", *numbers, *(gate[0] for gate in gates if gate is not None)))) \
            if numbers else ()
        protocols = {name.split("_")[0] for name in self.wanted + numbers}
        if "tls" in protocols:
            protocols.add("quic")            # QUIC Initials carry a ClientHello
        self.protocols = tuple(sorted(protocols))
        self.ports, self.rule = _app.candidate_rule(self.protocols)
        self.rows = 0
        self.buffer = bytearray(_BUFFER_BYTES)
        self.out = sys.stdout.buffer

    def opened(self) -> None:
        """The file is open: the header line (-E header=y) goes first."""
        if self.header_line:
            self.out.write(self.header_line)
            self.header_line = b""

    def _grow(self, rows: int) -> None:
        if rows <= self.rows:
            return
        self.rows = rows
        self.header = dict(zip(_HEADER, _columns(_HEADER.values(), rows)))
        self.candidates = array("q", bytes(8 * rows))
        self.zeros = _columns("IHH", rows)            # a file's status, vlan_tci, vlan_tpid
        self.offsets = {name: array("i", bytes(4 * (rows + 1))) for name in self.wanted}
        self.fixed = {}
        for name in self.fixed_names:
            kind, width = _LAYOUT[name]
            self.fixed[name] = array(_TYPECODES[kind], bytes(int(kind[1]) * width * rows))
        self.written = array("q")        # the rows the last pass wrote in self.fixed

    def _fixed_views(self) -> dict:
        # decode_app's arrays: a row of 6 bytes a packet for the MAC column
        return {name: memoryview(column).cast("B", (self.rows, _LAYOUT[name][1]))
                if _LAYOUT[name][1] > 1 else column for name, column in self.fixed.items()}

    def _number_column(self, name: str, header: dict, caplen) -> tuple:
        kind, gate, nonzero, least, whole_from = NUMBER_COLUMNS[name]
        protocol = _app.APP_PROTOCOLS[name.split("_")[0]]
        gate_column, low, high = (None, 0, 0) if gate is None else \
            (self.fixed[gate[0]], gate[1], gate[2])
        cut = (caplen, header["payload_offset"], header["payload_len"], header["ip_proto"],
               header["flags"], least, whole_from)
        return (kind, self.fixed[name], (self.fixed["app_proto"], 1 << protocol, gate_column,
                                         low, high, nonzero, cut))

    def write(self, n: int, data, ts, offset, caplen, wirelen, linktype, metadata=None,
              number=(0, None), decoded=None) -> None:
        """The lines of ``n`` packets: ``data`` and their columns (any buffers;
        ``metadata``: their status, vlan_tci, vlan_tpid, None: a pcap file's
        zeros; ``number``: (packets of the file before them, their indices
        after those, None: all); ``decoded``: the (link types, caplens) the
        decoding passes read instead, where packets of link types ringcap does
        not decode are empty Ethernet frames: no names, as tshark's lines for
        802.11 or USB packets that carry none)."""
        if n == 0:
            return
        self._grow(n)
        frame = {"number": ("index", *number), "ts": ("time", ts), "wirelen": ("u32", wirelen),
                 "caplen": ("u32", caplen)}
        if not self.wanted and not self.fixed_names:
            self._lines(n, tuple(frame[name] for name in self.columns))
            return
        if metadata is None:
            metadata = (memoryview(c)[:n] for c in self.zeros)
        status, vlan_tci, vlan_tpid = metadata
        if decoded is not None:
            linktype, caplen = decoded
        header = {name: memoryview(column)[:n] for name, column in self.header.items()}
        count = _decode.decode_into(data, offset, caplen, wirelen, status, vlan_tci, vlan_tpid,
                                    header, False, linktype, self.ports, self.rule,
                                    self.candidates)
        offsets = {name: memoryview(self.offsets[name])[:n + 1] for name in self.wanted}
        strings = _app.decode_app(data, offset, caplen, *(header[name] for name in _HEADER),
                                  self._fixed_views(), dict(offsets), self.protocols,
                                  memoryview(self.candidates)[:count],
                                  clear=self.written if self.fixed else None, as_bytes=True,
                                  tshark_text=True)
        if self.fixed:
            self.written = self.candidates[:count]
        self._lines(n, tuple(frame[name] if name in frame else
                             self._number_column(name, header, caplen)
                             if name in NUMBER_COLUMNS else
                             ("text", offsets[name], strings[name]) for name in self.columns))

    def _lines(self, n: int, columns: tuple) -> None:
        start = 0
        while start < n:
            try:
                start, used = _app.field_lines(self.buffer, start, n, columns,
                                               self.separator, self.quote)
            except ValueError:
                # a line longer than the buffer (a field repeated over long URIs):
                # room for the longest a line can be, all the chunk's text
                most = sum(len(c[2]) for c in columns if c[0] == "text") + 30 * len(columns)
                if len(self.buffer) >= most:
                    raise
                self.buffer = bytearray(most)
                continue
            try:
                with memoryview(self.buffer) as view:
                    write_whole(self.out, view[:used])
            except BrokenPipeError:
                raise
            except OSError as exc:
                raise output_error(exc) from None


def _lean(path: str, expression: str | None, lines: FieldLines, stopped,
          count: int | None) -> bool:
    """The lines of a classic pcap file read without numpy; False if ``path``
    is not one (the batch path reads and reports it)."""
    source = open_plain_pcap(path)
    if source is None:
        return False
    chunks = _Chunks(source)
    try:
        program = None if expression is None else program_for(expression, source)
        lines.opened()
        selector = ChunkSelector(source.linktype, program)
        read = 0
        for n in chunks.each(lambda: stopped() or read == count):
            n = n if count is None else min(n, count - read)
            _, chosen, (ts, caplen, wirelen, offset) = selector.select(chunks, n, None)
            indices = None if chosen == n else memoryview(selector.chosen)[:chosen]
            lines.write(chosen, chunks.data, ts, offset, caplen, wirelen,
                        memoryview(selector.linktypes)[:chosen], number=(read, indices))
            read += n
    finally:
        chunks.release()
        source.close()
    return True


def _batches(path: str, expression: str | None, lines: FieldLines, stopped,
             count: int | None) -> None:
    """The lines of any file ringcap reads, batch by batch (numpy): those of
    link types ringcap does not decode (the lean path takes none) too."""
    from ..filtering import LinkTypeFilter
    from ..pcapfile.reader import open_pcap
    import numpy as np
    select = None if expression is None else LinkTypeFilter(expression)
    known_types = np.array(sorted(LINKTYPE_NAMES), np.uint16)
    read = 0
    with open_pcap(path) as reader:
        lines.opened()
        for batch in reader:
            if stopped() or read == count:
                break
            if count is not None and len(batch) > count - read:
                batch = batch[:count - read]
            n, indices, decoded = len(batch), None, None
            if select is not None:
                mask = select.mask(batch)
                batch, indices = batch[mask], np.flatnonzero(mask)
            known = np.isin(batch.linktype, known_types)
            if not known.all():
                decoded = (np.where(known, batch.linktype, LINKTYPE_ETHERNET).astype(np.uint16),
                           np.where(known, batch.caplen, 0).astype(np.uint32))
            lines.write(len(batch), batch.data, batch.ts, batch.offset, batch.caplen,
                        batch.wirelen, batch.linktype, (batch.status, batch.vlan_tci,
                                                        batch.vlan_tpid), (read, indices),
                        decoded)
            read += n


def run(args) -> int:
    if args.display_filter is not None:
        raise CliError(f"-Y {args.display_filter}: Wireshark's display filters are not read; "
                       "give a tcpdump filter after the fields, e.g. ringcap fields -r FILE "
                       "-e dns.qry.name udp port 53")
    require_stdout()
    count = packet_count(args.count)
    header, separator, quote = line_style(args.line_options)
    lines = FieldLines(columns_of(args.fields), separator, quote)
    if header:      # (written once the file is open, as tshark's)
        lines.header_line = chr(separator).join(args.fields).encode() + b"\n"
    expression = " ".join(args.expression) if args.expression else None
    # SIGINT, SIGTERM, SIGHUP: the lines of the chunk in hand, then status 2, as tshark
    interrupts = StopSignals()
    try:
        with interrupts:
            if not _lean(args.read, expression, lines, interrupts, count):
                _batches(args.read, expression, lines, interrupts, count)
    except FileNotFoundError as exc:
        if exc.filename != args.read:
            raise
        raise CliError(f'The file "{args.read}" doesn\'t exist.', status=2) from None  # tshark's
    finally:
        try:
            lines.out.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise output_error(exc) from None
    return 2 if interrupts.received else 0
