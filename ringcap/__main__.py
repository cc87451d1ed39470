"""Command line: `ringcap demo`, `ringcap capture`."""
from __future__ import annotations

import argparse
import sys


def _capture(args) -> int:
    from .ring import capture
    batch = capture(args.interface, count=args.count, duration=args.duration,
                    snaplen=args.snaplen, filter=args.filter, promisc=args.promisc)
    print(f"{len(batch)} packets, {batch.nbytes} bytes, {batch.drops} dropped by the kernel")
    if args.write:
        from . import pcap
        pcap.write_pcap(args.write, batch)
        print(f"wrote {args.write}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ringcap", description="Linux packet capture into numpy")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="capture self-made traffic in a private namespace (root)")
    demo.add_argument("--count", type=int, default=200_000, help="frames to send (200000)")
    cap = sub.add_parser("capture", help="capture packets and print a summary")
    cap.add_argument("-i", "--interface", default=None, help="interface (default: all)")
    cap.add_argument("-c", "--count", type=int, default=None, help="stop after N packets")
    cap.add_argument("-G", "--duration", type=float, default=None, help="stop after S seconds")
    cap.add_argument("-s", "--snaplen", type=int, default=65535)
    cap.add_argument("-p", "--promisc", action="store_true")
    cap.add_argument("-w", "--write", default=None, help="write the packets to a pcap file")
    cap.add_argument("filter", nargs="*", help="tcpdump-syntax filter expression")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run
            return run(args.count)
        args.filter = " ".join(args.filter) or None
        if args.count is None and args.duration is None:
            parser.error("capture needs -c COUNT or -G SECONDS")
        return _capture(args)
    except (OSError, ValueError) as exc:
        print(f"ringcap: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
