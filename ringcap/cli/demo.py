"""`ringcap demo`: capture self-made traffic in a private network namespace."""
from __future__ import annotations

from .options import parse_count, size_type
from ..demo import run as run_demo


def add_arguments(parser) -> None:
    parser.add_argument("--count", type=size_type(parse_count, what="frame count"),
                        default=200_000, help="frames to send (200000)")


def run(args) -> int:
    return run_demo(args.count)
