"""`ringcap plot FILE... -o out.png`: rates over time, protocol mix and top conversations."""
from __future__ import annotations

import os

from ..report import file_report
from .options import CliError, parse_count, parse_seconds, size_type


def add_arguments(parser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="pcap or pcapng files")
    parser.add_argument("-o", "--output", metavar="IMAGE", required=True,
                        help="where to write the picture (.png, .svg or .pdf; .html: interactive)")
    parser.add_argument("--html", action="store_true",
                        help="an interactive page (plotly; zoom and hover) instead of a picture: "
                             "-o must name a .html file")
    parser.add_argument("--interval", metavar="SECONDS", default=1.0,
                        type=size_type(parse_seconds, what="--interval"),
                        help="width of the rate bins (1 s)")
    parser.add_argument("--top", metavar="N", type=size_type(parse_count, what="--top"),
                        default=8, help="protocols and conversations to show (8)")
    parser.add_argument("--title", help="figure title (default: packets, bytes, duration)")
    parser.add_argument("-f", "--filter", metavar="EXPRESSION",
                        help="plot only packets matching a tcpdump filter expression")


def run(args) -> int:
    suffix = os.path.splitext(args.output)[1].lower()
    html = args.html or suffix in (".html", ".htm")
    if html and suffix not in (".html", ".htm"):
        raise CliError(f"--html writes a web page: -o {args.output} must end in .html")
    if not html and suffix not in (".png", ".svg", ".pdf"):
        raise CliError(f"-o {args.output}: name a .png, .svg or .pdf file (or .html for an "
                       "interactive page)")
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise CliError(f"-o {args.output}: the folder {folder} does not exist")
    from ..plots import plot_report, plot_report_html   # matplotlib/plotly only when plotting
    report, _ = file_report(args.files, filter=args.filter, interval=args.interval)
    draw = plot_report_html if html else plot_report
    draw(report, args.output, top=args.top, title=args.title)
    print(f"wrote {args.output} ({report.packets} packets)")
    return 0
