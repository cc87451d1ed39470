"""What bounds ``open_pcap()`` and ``flow_features()`` on files of large packets.

The reader maps the file (no copy), so on a file in the page cache its work
is the walk over the record headers plus the kernel's: mapping each page of
the file into the process on a fault and unmapping it when the batch that
views it is gone.  That kernel work is per page *table entry*, and how many
entries a file needs depends on how the page cache holds it: 4 KiB folios
(order 0: one entry a page, 16 pages a fault), larger folios (mapped a folio
at a time) or 2 MiB folios (one PMD entry for 512 pages).  The same file can
be held either way, depending on how its pages came into the cache: written
in 4 KiB pieces (tcpdump's stdio buffer) they are order 0; written in large
pieces, or read from disk by readahead, they are mostly large.

For each file this prints
  * the page cache's make-up of the file: the share of its cached pages in
    4 KiB folios, in larger ones, and in 2 MiB ones (``/proc/kpageflags``;
    needs root, else "n/a"),
  * ``map floor``: mapping the file in windows of a batch's size
    (``--window``, as the reader's), mapping in every page and unmapping;
    the kernel's part of the reader, with no header walk,
  * the claim's ``open_pcap`` loop (``for b in open_pcap(FILE)``) and dpkt's
    ``pcap.Reader``, and ``--flows``: ``flow_features(open_pcap(FILE))``
    (and nfstream with ``--nfstream``),
  * ``dpkt / floor``: the most the ``open-pcap`` ratio can be while the page
    cache holds the file so.

With ``--copies`` each file is also copied twice into a temporary folder
(``--tmp``, on a disk file system; deleted afterwards), written in 4 KiB
writes and in 4 MiB writes, so the same bytes are measured in both
page-cache shapes, and once into ``/dev/shm`` (tmpfs: 4 KiB pages unless
it is mounted with ``huge=``), where the claims run writes the files its
``flows`` claim reads.  The benchmark's traffic files are only read.  The runs
alternate between the files and the readers; each figure is a median of
``--repeat`` (wall and CPU from rusage, in this process).

    python benchmarks/bench_page_cache.py --mixes large,recorded --copies --flows
"""
from __future__ import annotations

import argparse
import collections
import ctypes
import mmap
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # this checkout's ringcap (built in place)
sys.path.insert(0, HERE)

import ringcap  # noqa: E402

PAGE = mmap.PAGESIZE
MIXES = {"uniform": "uniform-1000000-s0-v2.pcap", "imix": "imix-500000-s0-v2.pcap",
         "large": "large-300000-s0-v2.pcap", "recorded": "recorded-400000-v2-r1.pcap",
         "uniform-1400": "uniform-1400-300000-s0-v2.pcap"}
_KPF_COMPOUND_HEAD, _KPF_COMPOUND_TAIL = 1 << 15, 1 << 16
_MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)     # Linux 5.14


# ----------------------------------------------------------------- page cache
def folio_makeup(path: str) -> dict:
    """Pages of ``path``, how many are cached, and the cached ones by folio order.

    Only cached pages are touched (``mincore`` first), so measuring reads
    nothing in and leaves the cache as it was."""
    size = os.path.getsize(path)
    pages = -(-size // PAGE)
    out = {"pages": pages, "cached": None, "orders": None}
    libc = ctypes.CDLL(None, use_errno=True)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as mm:
        view = np.frombuffer(mm, dtype=np.uint8)
        vec = np.zeros(pages, dtype=np.uint8)
        if libc.mincore(ctypes.c_void_p(view.ctypes.data), ctypes.c_size_t(size),
                        vec.ctypes.data_as(ctypes.c_void_p)) != 0:
            del view
            return out
        cached = np.flatnonzero(vec & 1)
        out["cached"] = len(cached)
        try:
            int(view[cached * PAGE].sum())           # map the cached pages (no reads)
            first = view.ctypes.data // PAGE
            with open("/proc/self/pagemap", "rb") as pm:
                entries = np.frombuffer(os.pread(pm.fileno(), 8 * pages, 8 * first), np.uint64)
            pfns = entries & np.uint64((1 << 55) - 1)
            if not pfns[cached].any():
                return out                            # PFNs hidden: not root
            with open("/proc/kpageflags", "rb") as kf:
                flags = np.array([int.from_bytes(os.pread(kf.fileno(), 8, int(p) * 8), "little")
                                  for p in pfns[cached]], dtype=np.uint64)
        except OSError:
            return out
        finally:
            del view
    out["orders"] = folio_orders(flags)
    return out


def folio_orders(flags) -> dict[int, int]:
    """{folio order: pages in folios of that order} from the ``/proc/kpageflags``
    words of consecutive pages: a compound head and the tails after it are one
    folio (order: log2 of its pages, rounded up), any other page is order 0."""
    orders: collections.Counter = collections.Counter()
    run = 0
    for f in flags:
        f = int(f)
        if f & _KPF_COMPOUND_TAIL and run:
            run += 1
            continue
        if run:
            orders[(run - 1).bit_length()] += run
        run = 1 if f & _KPF_COMPOUND_HEAD else 0
        if not run:
            orders[0] += 1
    if run:
        orders[(run - 1).bit_length()] += run
    return dict(orders)


def describe(makeup: dict) -> str:
    cached = makeup["cached"]
    if cached is None:
        return "n/a"
    head = f"{100 * cached / makeup['pages']:.0f}% cached"
    if makeup["orders"] is None or not cached:
        return head
    o = makeup["orders"]
    small = o.get(0, 0)
    pmd = sum(v for k, v in o.items() if k >= 9)
    return (f"{head}: {100 * small / cached:.0f}% 4 KiB, "
            f"{100 * (cached - small - pmd) / cached:.0f}% 8 KiB-1 MiB, "
            f"{100 * pmd / cached:.0f}% 2 MiB folios")


# ----------------------------------------------------------------- timed work
def map_floor(path: str, window: int) -> int:
    """Map ``path`` in windows, map in every page, unmap: the kernel's part of
    the reader (``MADV_POPULATE_READ`` maps the pages as faults would, without
    user-space loads; kernels before 5.14: a byte of each page is read)."""
    pages = 0
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        for offset in range(0, size, window):
            length = min(window, size - offset)
            mm = mmap.mmap(f.fileno(), length, access=mmap.ACCESS_READ, offset=offset)
            mm.madvise(mmap.MADV_SEQUENTIAL)          # as the reader's maps
            try:
                mm.madvise(_MADV_POPULATE_READ)
            except OSError:
                view = np.frombuffer(mm, dtype=np.uint8)
                view[::PAGE].sum()
                del view
            pages += len(range(0, length, PAGE))
            mm.close()
    return pages


def open_pcap_loop(path: str) -> int:
    packets = 0
    with ringcap.open_pcap(path) as reader:
        for batch in reader:
            packets += len(batch)
    return packets


def timed(fn, *args) -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = fn(*args)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    kids_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
           + kids_after.ru_utime - kids.ru_utime + kids_after.ru_stime - kids.ru_stime)
    return {"wall": wall, "cpu": cpu, "sys": after.ru_stime - usage.ru_stime,
            "faults": after.ru_minflt - usage.ru_minflt,
            "disk": after.ru_majflt - usage.ru_majflt, "result": result}


def copy_in_writes(src: str, dst: str, piece: int) -> str:
    """Copy ``src`` to ``dst`` in writes of ``piece`` bytes (a fresh file, so its
    page cache is what such writes leave)."""
    with open(src, "rb") as f, open(dst, "wb", buffering=0) as out:
        while True:
            data = f.read(piece)
            if not data:
                break
            view = memoryview(data)
            while view:
                view = view[out.write(view):]
    return dst


# ----------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mixes", default="large,recorded",
                        help=f"comma-separated, of {', '.join(MIXES)} (benchmarks/_traffic)")
    parser.add_argument("--files", default="", help="comma-separated pcap paths, also")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--window", type=int, default=88 << 20,
                        help="bytes a map floor window holds (the reader maps one batch's)")
    parser.add_argument("--copies", action="store_true",
                        help="also measure copies written in 4 KiB and in 4 MiB writes")
    parser.add_argument("--tmp", default=None, help="folder for the copies (not tmpfs)")
    parser.add_argument("--flows", action="store_true", help="also flow_features(open_pcap(FILE))")
    parser.add_argument("--nfstream", action="store_true", help="also nfstream (with --flows)")
    parser.add_argument("--no-dpkt", action="store_true")
    args = parser.parse_args()

    files = {}
    for name in filter(None, args.mixes.split(",")):
        files[name] = os.path.join(HERE, "_traffic", MIXES[name])
    for path in filter(None, args.files.split(",")):
        files[os.path.basename(path)] = path
    folders = []
    try:
        if args.copies:
            folders.append(tempfile.mkdtemp(prefix="ringcap-pagecache-", dir=args.tmp))
            if os.path.isdir("/dev/shm"):
                folders.append(tempfile.mkdtemp(prefix="ringcap-pagecache-", dir="/dev/shm"))
            for name, path in list(files.items()):
                for label, piece in (("4 KiB writes", 4096), ("4 MiB writes", 4 << 20)):
                    files[f"{name}, copy in {label}"] = copy_in_writes(
                        path, os.path.join(folders[0], f"{name}-{piece}.pcap"), piece)
                if len(folders) > 1:      # where the flows claim writes its head files
                    files[f"{name}, copy in /dev/shm"] = copy_in_writes(
                        path, os.path.join(folders[1], f"{name}.pcap"), 4 << 20)
        run(files, args)
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


def run(files: dict, args) -> None:
    import bench_flows
    import bench_pcap
    for path in files.values():                       # in the page cache, as the claims warm
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass
    makeup = {name: describe(folio_makeup(path)) for name, path in files.items()}
    work = {"map floor": lambda p: map_floor(p, args.window),
            "open_pcap loop": open_pcap_loop}
    if not args.no_dpkt:
        work["dpkt pcap.Reader"] = bench_pcap.read_dpkt
    if args.flows:
        work["flow_features"] = lambda p: len(bench_flows.run_ringcap(p, 120, 1800))
        if args.nfstream:
            work["nfstream"] = lambda p: len(bench_flows.run_nfstream(p, 120, 1800, 1))
    runs = {(name, what): [] for name in files for what in work}
    for _ in range(args.repeat):
        for name, path in files.items():
            for what, fn in work.items():
                runs[name, what].append(timed(fn, path))
    med = {key: {k: statistics.median(r[k] for r in rs)
                 for k in ("wall", "cpu", "sys", "faults", "disk")}
           for key, rs in runs.items()}
    load = os.getloadavg()
    print(f"# ringcap {ringcap.__version__}, {os.cpu_count()} CPUs, {os.uname().release}, "
          f"median of {args.repeat}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
          f"map floor windows {args.window >> 20} MiB")
    print("\n| file | page cache | what | wall ms | CPU ms | of which kernel | faults "
          "| of which read from disk | GB/s (wall) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, path in files.items():
        size = os.path.getsize(path)
        for what in work:
            m = med[name, what]
            print(f"| {name} | {makeup[name]} | {what} | {1e3 * m['wall']:.1f} | "
                  f"{1e3 * m['cpu']:.1f} | {1e3 * m['sys']:.1f} | {m['faults']:.0f} | "
                  f"{m['disk']:.0f} | {size / m['wall'] / 1e9:.1f} |")
    nf = args.nfstream and args.flows
    print("\n| file | dpkt / open_pcap (wall) | dpkt / map floor (wall): the bound |"
          + (" nfstream / flow_features (CPU, wall) | nfstream / map floor (CPU, wall) |"
             if nf else ""))
    print("|---|---|---|" + ("---|---|" if nf else ""))
    for name in files:
        if args.no_dpkt:
            break
        d = med[name, "dpkt pcap.Reader"]["wall"]
        row = (f"| {name} | {d / med[name, 'open_pcap loop']['wall']:.1f} | "
               f"{d / med[name, 'map floor']['wall']:.1f} |")
        if nf:
            theirs, ours, floor = (med[name, "nfstream"], med[name, "flow_features"],
                                   med[name, "map floor"])
            row += (f" {theirs['cpu'] / ours['cpu']:.1f}, {theirs['wall'] / ours['wall']:.1f} |"
                    f" {theirs['cpu'] / floor['cpu']:.0f}, {theirs['wall'] / floor['wall']:.0f} |")
        print(row)


if __name__ == "__main__":
    main()
