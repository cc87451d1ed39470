"""Rotation, written once: `RotatingSink` cuts a stream of batches into files.

It decides *when* a file ends (size, time, packet count), *what* the next
one is called (a naming callable), *where* a packet goes when packets are
partitioned by a key, and *what happens* to a finished file (atomic rename,
owner, a command).  What a file holds is left to a *part*: any object made
by ``part_factory(path, mode)`` with

    write(batch)                 append every packet of batch
    flush()                      hand buffered bytes to the OS
    close(stats=None)            finish the file (stats: a ring's Stats or None)
    packets_written, bytes_written
    packets_in_files             optional: of those, in records handed to the OS
                                 (without it: none until the file is closed)
    record_sizes(batch)          optional: bytes each packet will take in the
                                 file (numpy array); needed for size rotation

`PcapSink` (pcap/pcapng) and the Parquet sink are RotatingSinks with their
own part.
"""
from __future__ import annotations

import collections
import contextlib
import errno
import math
import os
import pwd
import stat
import time

from .._frozen import frozen
from .._validate import _is_integer
from .base import Sink

TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)
if TYPE_CHECKING:
    from typing import Callable


# ---------------------------------------------------------------------- the rules
@frozen
class Rotation:
    """When a file ends.

    ``max_bytes``: a file ends before the packet that would take it past this
    size (tcpdump ``-C``, in bytes here; each file holds at least one packet).
    ``seconds``: a file holds the packets of ``seconds`` from its first
    packet's timestamp (tcpdump ``-G``), or with ``aligned=True`` the interval
    of ``seconds`` that holds it, counted from the epoch (an hour from
    :00:00 UTC, a minute from :00).  ``max_packets``: at most this many
    packets per file.  ``max_files`` (tcpdump ``-W``): with size or packet
    rotation, a ring buffer of this many file names reused in turn; with time
    rotation, stop after this many time intervals (with both, both apply).
    """

    max_bytes: int | None = None
    seconds: float | None = None
    max_packets: int | None = None
    max_files: int | None = None
    aligned: bool = False

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_packets", "max_files"):
            value = getattr(self, name)
            if value is not None:
                if not _is_integer(value):
                    raise TypeError(f"{name} must be an int, got {type(value).__name__}")
                if value <= 0:
                    raise ValueError(f"{name} must be positive, got {value}")
        if self.seconds is not None:
            seconds = float(self.seconds)
            if not (math.isfinite(seconds) and seconds > 0):
                raise ValueError(f"rotation seconds must be a positive finite number, "
                                 f"got {self.seconds}")
        if self.aligned and self.seconds is None:
            raise ValueError("aligned intervals need a rotation time (seconds)")
        if self.max_files is not None and not (self.max_bytes or self.seconds or self.max_packets):
            raise ValueError("a file count (-W) needs size (-C), time (-G) or packet rotation")

    @property
    def active(self) -> bool:
        return bool(self.max_bytes or self.seconds or self.max_packets)

    @property
    def splits_in_interval(self) -> bool:
        """Files also end inside a time interval (size or packet count)."""
        return bool(self.max_bytes or self.max_packets)


class FileSlot(collections.namedtuple("FileSlot", "key seq index start_ns")):
    """What a naming callable gets to name a file.

    ``key``: the partition key (None without partitions); ``seq``: files
    opened so far for this key (never wraps); ``index``: the file's number
    inside its time interval, wrapped at ``max_files`` for a ring buffer;
    ``start_ns``: when the file was opened (first packet's timestamp for
    files opened by a packet, the clock for the first file).
    """

    __slots__ = ()


def _errno_name(number: int) -> str:
    return errno.errorcode.get(number, f"errno {number}")


def _finished(files: int) -> str:
    if not files:
        return "no file was finished before it"
    return ("the file finished before it is complete" if files == 1 else
            f"the {files} files finished before it are complete")


def _digits(max_files: int | None) -> int:
    """tcpdump's width for -W numbers: digits of max_files - 1 (10 files -> 1 digit)."""
    if not max_files:
        return 0
    return len(str(max_files - 1)) if max_files > 1 else 0


class TcpdumpNaming:
    """File names as tcpdump makes them for ``-w FILE`` with ``-C``/``-G``/``-W``.

    With ``-G`` the name is passed through ``strftime`` (local time of the
    file's start).  With ``-C`` (or packet rotation) a number follows:
    ``FILE``, ``FILE1``, ``FILE2``, ...; with ``-W N`` too, every file gets
    the number, zero-padded to the digits of N-1 (``FILE0`` .. ``FILE9``).
    One deliberate difference: tcpdump overwrites a file whose ``-G`` name
    repeats (no ``%`` pattern, or a pattern coarser than the interval); here
    a repeated name gets ``.1``, ``.2``, ... appended, so no packet is lost.
    """

    def __init__(self, template: str, rotation: Rotation | None = None) -> None:
        self.template = os.fspath(template)
        self.rotation = rotation or Rotation()
        self._width = _digits(self.rotation.max_files) if self.rotation.splits_in_interval else 0
        self._used: set[str] = set()

    def __call__(self, slot: FileSlot) -> str:
        rotation = self.rotation
        name = self.template
        if rotation.seconds:
            name = time.strftime(name, time.localtime(slot.start_ns / 1e9))
        if rotation.splits_in_interval and (slot.index or self._width):
            name = f"{name}{slot.index:0{self._width}d}"
        if rotation.seconds:
            base, k = name, 0
            while name in self._used:
                k += 1
                name = f"{base}.{k}"
            self._used.add(name)
        return name


def resolve_owner(owner) -> tuple[int, int] | None:
    """``owner`` (a user name, a uid, or ``(uid, gid)``) as ``(uid, gid)``.

    A name or uid takes the user's primary group, as tcpdump ``-Z`` does.
    """
    if owner is None:
        return None
    if isinstance(owner, tuple):
        uid, gid = owner
        return int(uid), int(gid)
    try:
        entry = pwd.getpwnam(owner) if isinstance(owner, str) else pwd.getpwuid(int(owner))
    except (KeyError, TypeError, ValueError, OverflowError):
        if isinstance(owner, str) and owner.isdigit():
            return resolve_owner(int(owner))
        raise ValueError(f"unknown user {owner!r} for the files' owner (-Z/owner=); "
                         "give an existing user name or uid") from None
    return entry.pw_uid, entry.pw_gid


class PostRotateCommand:
    """Run ``command FILE`` on each finished file (tcpdump ``-z``).

    ``command`` is split like a shell word list (``"gzip -9"``) but run
    without a shell.  Calling the object only queues the file: a launcher
    thread starts the commands, so the capture loop never waits for one to
    start or to finish.  At most ``max_running`` commands run at once (default:
    the number of CPUs); a file finished while that many run waits in the
    queue for a free slot, in order, and is counted in :attr:`waited`
    (``on_limit(max_running)`` is called the first time).  No file is ever
    skipped.  :meth:`wait` (called by the sink when it closes) runs the
    queue to the end, waits for every command and returns the worst exit
    status; :attr:`failures` lists ``(file, status)`` of the commands that
    failed (126/127: the command could not be started).  ``env``: the
    commands' environment (default: this process's).
    """

    def __init__(self, command: str, max_running: int | None = None,
                 on_limit: Callable[[int], None] | None = None,
                 env: dict[str, str] | None = None) -> None:
        import shlex
        import shutil
        import subprocess  # noqa: F401  (for _start: now, before a privilege drop)
        self.argv = shlex.split(command)
        if not self.argv:
            raise ValueError("the post-rotate command (-z) is empty")
        if shutil.which(self.argv[0]) is None:
            raise ValueError(f"the post-rotate command (-z) {self.argv[0]!r} was not found "
                             "(not an executable on PATH)")
        if max_running is None:
            max_running = os.cpu_count() or 2
        if isinstance(max_running, bool) or not isinstance(max_running, int) or max_running < 1:
            raise ValueError(f"max_running must be a positive int, got {max_running!r}")
        self.max_running = max_running
        self.env = None if env is None else dict(env)
        self.failures: list[tuple[str, int]] = []
        self.started = 0            # commands started
        self.waited = 0             # files that waited for a free slot
        self.peak_running = 0       # most commands running at once
        self._on_limit = on_limit
        self._queue: collections.deque[str] = collections.deque()
        self._running: list[subprocess.Popen] = []
        import threading        # (only -z needs a thread: start-up of every -w)
        self._wake = threading.Condition()
        self._closing = False
        self._thread = None         # the launcher, a threading.Thread once started

    def __call__(self, path: str) -> None:
        with self._wake:
            if self._closing:
                raise ValueError("the post-rotate command runner is closed")
            self._queue.append(os.fspath(path))
            if self._thread is None:
                import threading
                self._thread = threading.Thread(target=self._launch, daemon=True,
                                                name="ringcap -z launcher")
                self._thread.start()
            self._wake.notify()

    @property
    def pending(self) -> int:
        """Files queued, not started yet."""
        return len(self._queue)

    def _launch(self) -> None:
        limited = False
        while True:
            with self._wake:
                self._reap()
                if self._queue and len(self._running) >= self.max_running:
                    if not limited:
                        limited = True
                        self.waited += 1      # the file at the head waits for a slot
                        if self._on_limit is not None and self.waited == 1:
                            try:
                                self._on_limit(self.max_running)
                            except Exception:
                                pass
                    self._wake.wait(0.05)     # a child's exit wakes nobody: look again soon
                    continue
                if not self._queue:
                    if self._closing and not self._running:
                        return
                    self._wake.wait(0.05 if self._running else None)
                    continue
                path = self._queue.popleft()
                limited = False
            self._start(path)                 # outside the lock: the loop can queue meanwhile

    def _start(self, path: str) -> None:
        import subprocess
        try:
            proc = subprocess.Popen([*self.argv, path], stdin=subprocess.DEVNULL,
                                    start_new_session=True, env=self.env)
        except OSError as exc:
            code = 126 if exc.errno in (errno.EACCES, errno.EPERM, errno.ENOEXEC) else 127
            with self._wake:
                self.failures.append((path, code))
            return
        proc.ringcap_path = path
        with self._wake:
            self._running.append(proc)
            self.started += 1
            self.peak_running = max(self.peak_running, len(self._running))

    def _reap(self) -> None:
        still = []
        for proc in self._running:
            if proc.poll() is None:
                still.append(proc)
            elif proc.returncode:
                self.failures.append((proc.ringcap_path, proc.returncode))
        self._running = still

    def wait(self) -> int:
        with self._wake:
            self._closing = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
        return max((code for _, code in self.failures), default=0)


class _KeyState:
    """The open file of one partition key and its counters."""

    __slots__ = ("key", "part", "path", "final", "seq", "index", "start_ns", "intervals", "stopped")

    def __init__(self, key) -> None:
        self.key = key
        self.part = None
        self.path = self.final = None
        self.seq = 0            # files opened for this key
        self.index = 0          # name number inside the time interval
        self.start_ns = None    # the current time interval's start (None: no packet yet)
        self.intervals = 0      # time intervals finished
        self.stopped = False


#: The most files a partitioned sink keeps open at once (pyarrow's
#: ``write_dataset`` has ``max_open_files`` for the same reason, 1024 by default):
#: past it, the file written least recently is finished, and its partition's next
#: packets start a new file.  Packets whose times jump around (a file spanning
#: 1970 to 2106) opened one file per hour of them at once, each with its buffers
#: (a Parquet file holds up to a row group, ~30 MB), until the process ran out of
#: file descriptors.
MAX_OPEN_FILES = 32


# ---------------------------------------------------------------------- the sink
class RotatingSink(Sink):
    """Cut batches into files: rotation, partitions, atomic names, owner, hooks.

    ``part_factory(path, mode)`` opens one file (see the module docstring);
    ``naming(FileSlot) -> path`` names it.  ``rotation`` says when a file
    ends (:class:`Rotation`); batches are split exactly at packet boundaries,
    so the files together hold every packet once, in order.

    ``partition(batch) -> array`` gives each packet a key (e.g. the hour of
    its timestamp); packets of each key go to that key's own file, with its
    own rotation; at most :data:`MAX_OPEN_FILES` are open at once (past it,
    the one written least recently is finished, as if rotated).  ``on_file_done(path)`` runs after each file is finished
    (renamed into place); if it has a ``wait()`` method, :meth:`close` calls
    it.  ``owner`` (user name, uid or ``(uid, gid)``) is given each file as it
    is created; ``mode`` is the permission bits (0600: captured traffic is
    private).  ``atomic=True`` writes each file under a hidden temporary name
    beside it (``.NAME.PID.inprogress``) and renames it when finished, so
    readers never see a half-written file.  ``make_dirs=True`` creates the
    folders a name needs.  ``stats_source()``, if given, supplies the
    statistics written into each file finished by rotation (``close(stats)``
    supplies the last).  ``open_first`` opens the first file at once (so a bad
    path fails before capturing); it applies without ``partition``.
    """

    def __init__(self, part_factory: Callable, naming: Callable[[FileSlot], str],
                 rotation: Rotation | None = None, *,
                 partition: Callable | None = None, on_file_done: Callable | None = None,
                 owner=None, mode: int = 0o600, atomic: bool = False, make_dirs: bool = False,
                 stats_source: Callable | None = None, open_first: bool = True,
                 clock: Callable[[], int] = time.time_ns) -> None:
        super().__init__()
        self._states: dict = {}
        self._open_keys: dict = {}     # keys with a file open, least recently written first
        self._bytes_finished = 0
        self._in_files = 0             # packets in the finished files
        try:
            self._setup(part_factory, naming, rotation, partition, on_file_done, owner, mode,
                        atomic, make_dirs, stats_source, open_first, clock)
        except BaseException:
            self._abandon()
            raise

    def _setup(self, part_factory, naming, rotation, partition, on_file_done, owner, mode,
               atomic, make_dirs, stats_source, open_first, clock) -> None:
        self.rotation = rotation or Rotation()
        self._factory = part_factory
        self._naming = naming
        self._partition = partition
        self._on_file_done = on_file_done
        self._owner = resolve_owner(owner)
        self._mode = int(mode)
        self._atomic = bool(atomic)
        self._make_dirs = bool(make_dirs)
        self._stats_source = stats_source
        self._clock = clock
        self._seconds_ns = None if self.rotation.seconds is None else \
            int(round(float(self.rotation.seconds) * 1e9))
        if open_first and partition is None:
            self._open(self._state(None), None, clock())

    # -------------------------------------------------------------- accounting
    @property
    def bytes_written(self) -> int:
        return self._bytes_finished + sum(
            s.part.bytes_written for s in self._states.values() if s.part is not None)

    @bytes_written.setter
    def bytes_written(self, value) -> None:      # the base class initialises it
        pass

    @property
    def packets_in_files(self) -> int:
        """Packets in the finished files, plus those an open file's part has
        handed to the operating system (its ``packets_in_files``; a part
        without it, such as a Parquet file, whose footer comes at close, holds
        none until it is finished).  An open file under a hidden temporary
        name (``atomic``) counts none: readers never see it."""
        total = self._in_files
        if not self._atomic:           # (a loop: the pool's workers ask after every write)
            for state in self._states.values():
                if state.part is not None:
                    total += getattr(state.part, "packets_in_files", 0)
        return total

    @property
    def bytes_in_files(self) -> int:
        total = self._bytes_finished
        if not self._atomic:
            for state in self._states.values():
                if state.part is not None:
                    total += getattr(state.part, "bytes_in_files", 0)
        return total

    @property
    def current_files(self) -> list[str]:
        """Files open now (their final names)."""
        return [s.final for s in self._states.values() if s.part is not None]

    @property
    def files_being_written(self) -> list[str]:
        """The open files, when they carry their final names (not ``atomic``)."""
        return [] if self._atomic else self.current_files

    @property
    def done(self) -> bool:
        state = self._states.get(None)
        return self._partition is None and state is not None and state.stopped

    # -------------------------------------------------------------- files
    def _state(self, key) -> _KeyState:
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _KeyState(key)
        return state

    def _open(self, state: _KeyState, key, start_ns: int) -> None:
        if len(self._open_keys) >= MAX_OPEN_FILES:
            oldest = next(iter(self._open_keys))
            self._rotate(self._states[oldest], new_interval=False)
        final = os.fspath(self._naming(FileSlot(key, state.seq, state.index, start_ns)))
        folder = os.path.dirname(final)
        if self._make_dirs and folder:
            os.makedirs(folder, exist_ok=True)
        reused = final in self.files     # a ring buffer of files: this sink's own old file
        path = final
        if self._atomic:
            path = os.path.join(folder, f".{os.path.basename(final)}.{os.getpid()}.inprogress")
        try:
            if reused and not self._atomic:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(final)
            part = self._factory(path, self._mode)
        except OSError as exc:
            if reused and not os.path.lexists(final):
                self.files.remove(final)
            if not (self.files or state.seq) or exc.errno is None or exc.filename is None:
                raise               # the first file: the caller names it
            raise OSError(exc.errno, f"cannot create the next file, {path}: {exc.strerror} "
                          f"({_errno_name(exc.errno)}); {_finished(len(self.files))}") from exc
        if reused:
            self.files.remove(final)
        try:
            # a file of ours only: `-w /dev/null -Z USER` must not give /dev/null away
            if self._owner is not None and stat.S_ISREG(os.stat(path).st_mode):
                os.chown(path, *self._owner)
        except BaseException:
            part.close()
            raise
        state.part, state.path, state.final = part, path, final
        state.seq += 1
        self._open_keys[key] = None

    def _finish(self, state: _KeyState, stats) -> None:
        part, state.part = state.part, None
        if part is None:
            return
        self._open_keys.pop(state.key, None)
        removed = False
        try:
            part.close(stats)
        except BaseException:
            if self._atomic:        # never finished: no reader may see it, and none will
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(state.path)
                removed = True
            raise
        finally:
            if not removed:
                self._bytes_finished += part.bytes_written
                # what the file holds (after a failed write, PcapWriter counts only that)
                self._in_files += part.packets_written
        if self._atomic:
            try:
                os.replace(state.path, state.final)
            except OSError as exc:
                # the packets are in the file under its hidden name: say so
                self.files.append(state.path)
                raise OSError(exc.errno, f"cannot rename {state.path} to {state.final}: "
                              f"{exc.strerror} ({_errno_name(exc.errno)}); its packets are "
                              "in it, under the hidden name") from exc
        self.files.append(state.final)
        if self._on_file_done is not None:
            self._on_file_done(state.final)

    def _rotate(self, state: _KeyState, new_interval: bool) -> None:
        stats = self._stats_source() if self._stats_source is not None else None
        self._finish(state, stats)
        rotation = self.rotation
        if new_interval:
            state.intervals += 1
            state.index = 0
            state.start_ns = None
            if rotation.max_files and state.intervals >= rotation.max_files:
                state.stopped = True
        else:
            state.index += 1
            if rotation.max_files and state.index >= rotation.max_files:
                state.index = 0

    # -------------------------------------------------------------- writing
    def _write(self, batch) -> int:
        if self._partition is None:
            return self._write_key(None, batch)
        key = self._single_key(batch)
        if key is not None:         # the whole batch in one partition: no key per packet
            return self._write_one_key(key, batch)
        import numpy as np
        keys = np.asarray(self._partition(batch))
        if keys.shape != (len(batch),):
            raise ValueError(f"partition() returned shape {keys.shape} for {len(batch)} packets")
        if (keys == keys[0]).all():
            return self._write_one_key(keys[0].item(), batch)
        uniq, firsts, inverse = np.unique(keys, return_index=True, return_inverse=True)
        written = 0
        for j in np.argsort(firsts, kind="stable").tolist():
            written += self._write_key(uniq[j].item(), batch[inverse == j])
        self._expire_others(batch)
        return written

    def _write_one_key(self, key, batch) -> int:
        written = self._write_key(key, batch)
        self._expire_others(batch)
        return written

    def _expire_others(self, batch) -> None:
        if self._seconds_ns and len(self._states) > 1:
            # Time passes for every key: a packet past another key's interval
            # finishes that key's file too (as tick() does with the clock).
            self._expire(int(batch.ts.max()))

    def _single_key(self, batch):
        """The partition key of every packet of ``batch`` when a subclass can tell
        it is one key without a key per packet (the usual batch), else None."""
        return None

    def _write_key(self, key, batch) -> int:
        import numpy as np
        state = self._state(key)
        if key in self._open_keys:          # the most recently written now
            self._open_keys[key] = self._open_keys.pop(key)
        rotation = self.rotation
        n = len(batch)
        ts = batch.ts
        i = 0
        while i < n:
            if state.stopped:
                self.refused += n - i
                break
            if state.part is None:
                self._open(state, key, int(ts[i]) if self._seconds_ns else self._clock())
            part = state.part
            end = n
            if self._seconds_ns:
                if state.start_ns is None:
                    state.start_ns = int(ts[i])
                    if rotation.aligned:
                        state.start_ns -= state.start_ns % self._seconds_ns
                due = state.start_ns + self._seconds_ns
                if ts[i:].max() >= due:     # (else no packet is late: nothing allocated)
                    end = i + int(np.argmax(ts[i:] >= due))
                if end == i:                 # this packet opens the next interval
                    self._rotate(state, new_interval=True)
                    continue
            if rotation.max_packets:
                end = min(end, i + max(rotation.max_packets - part.packets_written, 0))
            if rotation.max_bytes:
                room = rotation.max_bytes - part.bytes_written
                sizes = np.cumsum(part.record_sizes(batch[i:end]), dtype=np.int64)
                end = i + int(np.searchsorted(sizes, room, side="right"))
            if end == i:
                if part.packets_written == 0:
                    end = i + 1              # a file holds at least one packet
                else:
                    self._rotate(state, new_interval=False)
                    continue
            before = part.packets_written
            try:
                part.write(batch if (i == 0 and end == n) else batch[i:end])
            except BaseException:
                # a write that failed part-way may have put some of these packets
                # in the file (the part's packets_in_files beyond all it took
                # before): they count as written, so that written - lost is what
                # the files hold (a part without it, Parquet's, loses them all)
                in_file = getattr(part, "packets_in_files", 0) - before
                self.packets_written += min(end - i, max(0, in_file))
                raise
            self.packets_written += end - i
            i = end
            if rotation.max_packets and part.packets_written >= rotation.max_packets:
                self._rotate(state, new_interval=False)
        return i

    def tick(self, now_ns: int | None = None) -> None:
        if self.closed:
            return
        for state in list(self._states.values()):
            tick = getattr(state.part, "tick", None)
            if tick is not None:
                tick()              # a quiet link still flushes within the part's interval
        if not self._seconds_ns:
            return
        self._expire(self._clock() if now_ns is None else int(now_ns))

    def _expire(self, now_ns: int) -> None:
        """Finish every file whose time interval ends at or before ``now_ns``."""
        for state in list(self._states.values()):
            if (state.part is not None and state.start_ns is not None
                    and now_ns - state.start_ns >= self._seconds_ns):
                self._rotate(state, new_interval=True)

    def _flush(self) -> None:
        for state in self._states.values():
            if state.part is not None:
                state.part.flush()

    def _close(self, stats) -> None:
        error = None
        try:
            for state in self._states.values():
                try:
                    self._finish(state, stats)
                except BaseException as exc:     # finish the others, then raise the first
                    error = error or exc
        finally:
            # packets this sink accepted that are not in any file (a write failed)
            self.packets_lost = max(0, self.packets_written - self._in_files)
        wait = getattr(self._on_file_done, "wait", None)
        if wait is not None:
            wait()
        if error is not None:
            raise error
