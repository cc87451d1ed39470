"""`ringcap convert FILE OUT [EXPRESSION]`: a capture file into a Parquet dataset,
or pcap into pcapng and back, keeping the packets a filter accepts.

The output's kind comes from ``--format`` or from ``OUT``: a folder (an
existing one, or a name ending in ``/``) is a Parquet dataset, a
``.pcapng`` name pcapng, anything else pcap.  The file is read in batches
(bounded memory) and streamed into the same sinks the capture uses.
"""
from __future__ import annotations

import os
import sys

from ..batch import LINKTYPE_NAMES, linktype_name
from ..pcapfile import DEFAULT_SNAPLEN, PcapFormatError, open_pcap
from ..pcapfile.formats import carries_direction
from ..sinks import PcapSink
from .datasets import DATASET_FORMATS, add_dataset_options, open_dataset_sink
from .options import CliError, filter_expression
from ..filtering import LinkTypeFilter, Selection

FORMATS = ("pcap", "pcapng") + DATASET_FORMATS


def add_arguments(parser) -> None:
    group = parser.add_argument_group("convert")
    group.add_argument("source", metavar="FILE", help="pcap or pcapng file to read")
    group.add_argument("target", metavar="OUT",
                       help="dataset folder (ROOT/) or pcap/pcapng file to write")
    group.add_argument("--format", choices=FORMATS,
                       help="what to write (default: parquet for a folder or a name ending in "
                            "/, pcapng for a .pcapng name, else pcap)")
    group.add_argument("-F", dest="filter_file", metavar="FILE",
                       help="read the filter expression from FILE")
    group.add_argument("expression", nargs="*", metavar="EXPRESSION",
                       help="keep only the packets this tcpdump filter expression accepts")
    add_dataset_options(parser)


def output_format(args) -> str:
    if args.format:
        return args.format
    target = args.target
    if target.endswith("/") or os.path.isdir(target):
        return "parquet"
    return "pcapng" if target.lower().endswith((".pcapng", ".ntar")) else "pcap"


def _matcher(expression: str | None, snaplen: int):
    """A function giving the packets of a batch the filter accepts (None: keep all)."""
    if expression is None:
        return None
    # compiled once per link type (as tcpdump -r would for the file), run per batch,
    # the packets gathered into columns reused from batch to batch
    return Selection(LinkTypeFilter(expression, snaplen=snaplen)).select


def run(args) -> int:
    args.format = output_format(args)
    source, target = args.source, args.target
    if os.path.exists(target) and os.path.exists(source) and os.path.samefile(source, target):
        raise CliError(f"{target} is the file being read; write somewhere else")
    expression = filter_expression(args)
    try:
        reader = open_pcap(source)
    except FileNotFoundError:
        raise CliError(f"cannot read {source}: no such file") from None
    except PcapFormatError as exc:     # (which names the file, mostly first)
        text = str(exc)
        raise CliError(f"cannot read {text}" if text.startswith(source + ":")
                       else f"cannot read {source}: {text}") from None
    with reader:
        linktype = reader.linktype
        snaplen = reader.snaplen or DEFAULT_SNAPLEN
        if args.format in DATASET_FORMATS:
            if linktype not in LINKTYPE_NAMES:
                raise CliError(f"{source} holds link type {linktype_name(linktype)}; datasets "
                               "hold decoded headers, and ringcap decodes "
                               f"{', '.join(sorted({n for n, _ in LINKTYPE_NAMES.values()}))}")
            sink = open_dataset_sink(args, target)
        else:
            if os.path.isdir(target):
                raise CliError(f"cannot write {args.format} to {target}: it is a folder; give a "
                               "file name, or --format parquet for a dataset")
            sink = PcapSink(target, format=args.format, snaplen=snaplen, linktype=linktype,
                            nanosecond=True,
                            writer_options={"flags": carries_direction(reader)})
        keep = _matcher(expression, snaplen)
        read = 0
        try:
            for batch in reader:
                read += len(batch)
                if keep is not None:
                    batch = keep(batch)
                if len(batch):
                    try:
                        sink.write(batch)
                    except ValueError as exc:     # a link type the output cannot take
                        raise CliError(f"cannot convert {source}: {exc}") from None
        finally:
            summary = sink.close()          # on errors too: finished files stay complete
    files = summary.files
    where = target if len(files) <= 1 else f"{len(files)} files under {target}"
    print(f"ringcap: {read} packets read from {source}, {summary.packets} written to {where}",
          file=sys.stderr)
    return 0
