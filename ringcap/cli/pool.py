"""`ringcap capture --workers N`: the capture loop over a ParallelCapture.

With ``-w FILE`` (or printing) the parent merges the workers' packets into
time order (``ParallelCapture.in_time_order``: bounded hold-back and memory)
and writes them into the one sink, so one file is in time order as a single
capture's would be; a ``{worker}`` in FILE gives one file per worker instead,
each written by its own worker process.  A Parquet dataset
(``--format parquet|flows``) is always written by the workers, each its own
files under the one ``ROOT``.
"""
from __future__ import annotations

import sys

from ..linktypes import PACKET_OUTGOING, linktype_description
from ..sinks import Sink, SinkSummary
from ..sinks.driving import PumpResult, StopSignals, taken_before_failure
from .datasets import dataset_workers, is_dataset
from .options import CliError, describe_error
from ..parallel import ORDER_MAX_HELD, ParallelCapture, WorkerDiedError, WorkerFiles
from .status import print_summary


def per_worker_files(args) -> bool:
    return bool(args.write) and "{worker}" in args.write


def check_pool_arguments(args, names) -> None:
    if len(names) > 1:
        raise CliError("--workers captures one interface (or any); for several interfaces "
                       "run one ringcap per interface", status=2)
    if per_worker_files(args) and (args.file_size or args.rotate_seconds or args.file_count
                                   or args.post_rotate or args.owner
                                   or getattr(args, "hidden_until_complete", False)):
        raise CliError("-C, -G, -W, -z, -Z and --hidden-until-complete are not available "
                       "with one file per worker ({worker} in -w)", status=2)
    if args.count is not None and (per_worker_files(args) or is_dataset(args)):
        # each worker writes its own files: no process sees the count (it was ignored:
        # the capture ran on until a signal), as capture_to_file_parallel refuses it
        where = ("one file per worker ({worker} in -w)" if per_worker_files(args)
                 else f"--format {args.format}")
        raise CliError(f"-c needs the packets written by one process; with --workers and "
                       f"{where} give --duration or stop with Ctrl-C", status=2)


def run_pool(args, iface, snaplen: int, ring_options: dict, sink: Sink | None,
             linktypes: dict[int, int], stop=None) -> PumpResult:
    """Capture with ``args.workers`` processes into ``sink`` (or per-worker
    files when ``sink`` is None); returns what :func:`pump` would.
    ``linktypes``: ``{ifindex: linktype}`` the rings capture with; ``stop``:
    the command's :class:`StopSignals`, which records a stop signal that comes
    while the pool starts."""

    [linktype] = set(linktypes.values())        # (the pool captures one interface)
    factory = None
    if sink is None and is_dataset(args):      # each worker writes its own files of one dataset
        if args.file_size or args.file_count or args.post_rotate:
            raise CliError(f"-C, -W and -z do not apply to --format {args.format} with "
                           "--workers")
        factory = dataset_workers(args, args.write, rotate_seconds=args.rotate_seconds,
                                  owner=args.owner)
    elif sink is None:
        # (the link type given: a worker that gets no packet writes the right header)
        factory = WorkerFiles(args.write, format=args.format, snaplen=snaplen,
                              nanosecond=args.precision == "nano", linktype=linktype)
    packets = nbytes = skipped = lost = refused = 0
    stopped_by = "stop"
    try:
        # (the signals are this function's: handled from before "listening on")
        pool = ParallelCapture(iface, args.workers, mode=args.fanout, sink=factory,
                               handle_signals=False, **ring_options)
    except (OSError, RuntimeError, ValueError) as exc:
        if sink is not None:
            sink.close()
        raise CliError(f"cannot start the workers: {exc}") from None
    died = failed = None
    with pool, StopSignals(on_signal=lambda signum: pool.stop()):
        if stop is not None and stop.requested:
            pool.stop()        # Ctrl-C while the workers started: they stop at once
        print(f"ringcap: listening on {iface or 'any'} with {args.workers} workers "
              f"(fanout {args.fanout}), link-type {linktype_description(linktype)}, "
              f"snapshot length {snaplen} bytes", file=sys.stderr, flush=True)
        if args.duration:
            pool.stop_after(args.duration)
        try:
            if factory is not None:
                pool.run()
            else:
                for batch in pool.in_time_order():
                    if args.direction == "out":
                        keep = batch.pkttype == PACKET_OUTGOING
                        skipped += len(batch) - int(keep.sum())
                        batch = batch[keep]
                    if args.count is not None:
                        batch = batch[:args.count - packets]
                    before = sink.packets_written
                    try:
                        taken = sink.write(batch)
                    except OSError as exc:
                        # (a full disk, a folder that refuses the next file): what the
                        # write took first is in the files
                        taken, taken_bytes = taken_before_failure(sink, before, batch)
                        packets += taken
                        nbytes += taken_bytes
                        failed, stopped_by = exc, "error"
                        pool.stop()
                        break
                    packets += taken
                    nbytes += int(batch.caplen[:taken].sum())
                    if args.count is not None and packets >= args.count:
                        stopped_by = "count"
                        pool.stop()
                    elif sink.done:
                        stopped_by = "files"
                        pool.stop()
        except WorkerDiedError as exc:
            died = exc
            # killed (SIGKILL, the OOM killer, or for not answering), not an error of its own
            killed = all(f.exitcode is not None and f.exitcode < 0 for f in exc.failures)
            stopped_by = "worker" if killed else "error"
        pool_stats = pool.stats
        stats = pool_stats.total
        if pool.late:
            print(f"ringcap: {pool.late} packets written after newer ones: a worker fell "
                  f"more than {pool.max_delay:g} s behind, or the merge held its "
                  f"{ORDER_MAX_HELD >> 20} MiB limit", file=sys.stderr)
        if factory is not None:
            # what each worker's sink took: a worker that failed sends its summary
            # with its error; for one killed the pool counted what it wrote in
            # memory it shares with the worker (ParallelCapture._count_unreported)
            summaries = pool.summaries
            packets = sum(w.delivered if s is None else s.get("packets", 0)
                          for s, w in zip(summaries, pool_stats.workers))
            lost = sum((s or {}).get("lost", 0) for s in summaries)
            refused = sum((s or {}).get("refused", 0) for s in summaries)
            nbytes = sum((s or {}).get("bytes", 0) for s in summaries)
            files = tuple(f for s in summaries for f in (s or {}).get("files", ()))
    if sink is not None:
        try:
            summary = sink.close(stats)
        except OSError as exc:
            failed, stopped_by = failed or exc, "error"
            summary = sink._partial_summary()
    else:
        summary = SinkSummary(packets=packets, bytes=nbytes, files=files, refused=refused,
                              lost=lost)
    result = PumpResult(packets=packets, bytes=nbytes, stats=stats, summary=summary,
                        stopped_by=stopped_by, skipped=skipped)
    if died is not None:
        print_summary(result, sys.stderr)
        for failure in died.failures:
            if "in_files_at_most" in (failure.summary or {}).get("extra", {}):
                print(f"ringcap: worker {failure.worker} was killed: the counts above hold its "
                      f"last known statistics, and as captured what it had written to its "
                      f"files", file=sys.stderr)
        raise CliError(f"capture stopped: {died}")
    if failed is not None:
        print_summary(result, sys.stderr)
        raise CliError(f"capture stopped: {describe_error(failed)}")
    return result
