"""Parquet dataset output for the commands: ``-w ROOT/ --format parquet`` (a row per
packet) or ``--format flows`` (a row per flow per interval), shared by
``capture`` and ``convert``.  The sinks are :class:`ringcap.ParquetSink` and
:class:`ringcap.FlowSink`; this module only turns options into their keywords.
"""
from __future__ import annotations

import os

from .options import CliError, parse_count, parse_seconds, size_type

DATASET_FORMATS = ("parquet", "flows")


def add_dataset_options(parser) -> None:
    group = parser.add_argument_group("Parquet datasets (--format parquet or flows)")
    group.add_argument("--partition-by", metavar="PARTS", default="date,hour",
                       help="folders by time: date,hour (default), date, "
                            "date,hour,minute, or none")
    group.add_argument("--rotate-rows", metavar="N",
                       type=size_type(parse_count, what="rows per file (--rotate-rows)"),
                       help="start a new file after N rows (parquet)")
    group.add_argument("--columns", metavar="NAMES",
                       help="comma-separated columns to keep (parquet; default: the batch's "
                            "and the decoded headers' but protocol, vlan_tci, vlan_tpid, "
                            "rxhash, status and the frame offsets), or `all`")
    group.add_argument("--payload", action="store_true",
                       help="also keep each frame's bytes in a `data` column (parquet)")
    group.add_argument("--flow-interval", metavar="SECONDS", default=60.0,
                       type=size_type(parse_seconds, what="flow interval"),
                       help="one row per flow per SECONDS (flows; default 60)")
    group.add_argument("--flow-features", action="store_true",
                       help="flows: nfstream-style records (size and inter-arrival "
                            "statistics, TCP flag counts, handshake RTTs) instead of counters")
    group.add_argument("--idle-timeout", metavar="SECONDS", default=120.0,
                       type=size_type(parse_seconds, what="idle timeout"),
                       help="with --flow-features: a flow idle this long ends its record (120)")
    # (no default here: ringcap.flowmeter, which holds it, is not imported by
    # captures to a file; the sink applies DEFAULT_MAX_FLOWS)
    group.add_argument("--max-flows", metavar="N",
                       type=size_type(parse_count, what="--max-flows"),
                       help="flows: hold at most N flows per file; past that the least "
                            "recently active is written out early (500000)")
    group.add_argument("--timestamp-unit", choices=("us", "ns"), default="us",
                       help="us (default): ts as a microsecond TIMESTAMP that Spark, DuckDB "
                            "and Polars read with no settings, plus ts_ns (int64, exact "
                            "nanoseconds); ns: ts in nanoseconds only (Spark needs "
                            "spark.sql.legacy.parquet.nanosAsLong)")
    group.add_argument("--host", metavar="NAME",
                       help="the host column of every row and the files' name label "
                            "(default: this machine's host name)")
    group.add_argument("--compression", default="zstd",
                       help="Parquet compression: zstd (default), lz4, snappy, gzip or none")


def is_dataset(args) -> bool:
    return getattr(args, "format", None) in DATASET_FORMATS


def _sink_options(args, root, rotate_seconds, owner, on_file_done) -> dict:
    """The ParquetSink keywords the options describe (checked here, with CLI wording)."""
    if root in (None, "-"):
        raise CliError(f"--format {args.format} writes a dataset folder: give -w ROOT/, "
                       "not standard output")
    if os.path.exists(root) and not os.path.isdir(root):
        raise CliError(f"cannot write a dataset to {root}: it is a file; give a folder "
                       "(it is created if missing)")
    parent = os.path.dirname(os.path.abspath(root.rstrip("/") or "/"))
    if not os.path.isdir(parent):
        raise CliError(f"cannot write a dataset to {root}: the folder {parent} does not exist")
    parts = args.partition_by.strip()
    partition_by = () if parts in ("", "none") else tuple(p.strip() for p in parts.split(","))
    if args.host is not None and not args.host.strip():
        raise CliError("--host needs a name (it labels the rows and the files)")
    options = dict(partition_by=partition_by, compression=args.compression, owner=owner,
                   on_file_done=on_file_done, timestamp_unit=args.timestamp_unit,
                   host=args.host, interface=getattr(args, "interface_names", None))
    if args.format == "flows":
        if args.rotate_rows or args.columns or args.payload or rotate_seconds:
            raise CliError("--format flows writes one file per --flow-interval: "
                           "-G, --rotate-rows, --columns and --payload do not apply")
        return dict(options, flows=True, flow_interval=args.flow_interval,
                    flow_features=args.flow_features, idle_timeout=args.idle_timeout,
                    **({} if args.max_flows is None else {"max_flows": args.max_flows}))
    if args.flow_features:
        raise CliError("--flow-features goes with --format flows")
    columns = None
    if args.columns:
        columns = "all" if args.columns.strip() == "all" else \
            [c.strip() for c in args.columns.split(",") if c.strip()]
    return dict(options, rotate_seconds=rotate_seconds, rotate_rows=args.rotate_rows,
                columns=columns, include_payload=args.payload)


def open_dataset_sink(args, root, *, rotate_seconds=None, owner=None, on_file_done=None):
    """The ParquetSink (or flow sink) the options describe, writing under ``root``."""
    options = _sink_options(args, root, rotate_seconds, owner, on_file_done)
    from ..sinks.parquet import ParquetSink
    try:
        return ParquetSink(root, **options)
    except ImportError as exc:
        raise CliError(str(exc)) from None


def dataset_workers(args, root, *, rotate_seconds=None, owner=None):
    """For ``--workers N``: a factory giving each worker its own sink into ``root``."""
    options = _sink_options(args, root, rotate_seconds, owner, None)
    from ..sinks.parquet import DatasetWorkers
    try:
        factory = DatasetWorkers(root, **options)
    except ImportError as exc:
        raise CliError(str(exc)) from None
    factory(0).close()              # a bad option fails here, once, not in every worker
    return factory
