"""`ringcap names --export DIR`: the names of the codes in a dataset's columns as
lookup tables (``DIR/ip_proto.parquet`` ...), for joins in Spark SQL, DuckDB or
any SQL engine.  The tables are :func:`ringcap.names.lookup_tables`, the same
vocabularies ``ringcap.names`` and the pandas/Arrow exports use.
"""
from __future__ import annotations

import csv
import os
import sys

from ..names import lookup_tables
from .options import CliError


def add_arguments(parser) -> None:
    group = parser.add_argument_group("names")
    group.add_argument("--export", metavar="DIR", required=True,
                       help="folder to write the tables into (created if missing); keep it "
                            "outside a dataset's folder")
    group.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                       help="parquet (default: one file per table) or csv (with a header)")


def _write_parquet(path: str, column: str, codes, names) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise CliError("--format parquet needs pyarrow, which is not installed: "
                       "pip install 'ringcap[parquet]', or use --format csv") from None
    table = pa.table({column: pa.array(codes, type=pa.int32()),
                      "name": pa.array(names, type=pa.string())})
    pq.write_table(table, path)


def _write_csv(path: str, column: str, codes, names) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([column, "name"])
        writer.writerows(zip(codes, names))


def run(args) -> int:
    folder = args.export
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise CliError(f"cannot export to {folder}: it is a file; give a folder")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {folder}: {exc.strerror or exc}") from None
    write = _write_parquet if args.format == "parquet" else _write_csv
    tables = lookup_tables()
    for name, (codes, names) in tables.items():
        path = os.path.join(folder, f"{name}.{args.format}")
        try:
            write(path, name, codes, names)
        except OSError as exc:
            raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"ringcap: {len(tables)} lookup tables ({', '.join(tables)}) written to {folder}",
          file=sys.stderr)
    return 0
