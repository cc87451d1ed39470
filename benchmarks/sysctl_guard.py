"""Put a machine-wide sysctl back however the processes that changed it end.

The test session and the benchmarks raise ``net.core.netdev_max_backlog``
(global, visible only from the initial network namespace) and restore it on
a normal exit.  A run killed with SIGKILL, or stopped by an unhandled
signal, never gets there.  :class:`SysctlGuard` therefore starts a small
watcher process *before* the caller leaves the initial namespace: it holds
the read end of a pipe whose write end only the caller has, and when the
pipe reaches end of file (the caller called :meth:`SysctlGuard.restore`,
exited or was killed) the watcher puts the value back.

Several runs can overlap (a test session while a benchmark runs).  Each
guard that remembered "the value when I started" would then put back the
other run's raised value.  So the guards share one record per sysctl in
``/run`` (``RINGCAP_GUARD_DIR``), under a lock: the value from before the
first of them, the last value a guard wrote, and the live guards (their
watchers' pid and start time).  A guard leaving while others still run
changes nothing; the last one out writes the original back, unless the
sysctl no longer holds the value a guard wrote (someone else changed it:
theirs stays).  While other guards run, :meth:`SysctlGuard.set` never
lowers the value.  A record left by guards that were all killed (their
watchers too) is picked up by the next guard, which then repairs the value.

Run as a script, this file is the watcher: ``sysctl_guard.py PATH``.
Standard library only: the test session loads it before ringcap is built.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import sys


def _record_paths(path: str) -> tuple[str, str]:
    folder = os.environ.get("RINGCAP_GUARD_DIR", "/run/ringcap-sysctl-guard")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    key = hashlib.sha256(os.path.abspath(path).encode()).hexdigest()[:20]
    base = os.path.join(folder, key)
    return base + ".json", base + ".lock"


@contextlib.contextmanager
def _locked_record(path: str):
    """The shared record of ``path`` (a dict), read and written under an exclusive lock."""
    record_path, lock_path = _record_paths(path)
    lock = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(record_path) as f:
                record = json.load(f)
        except (OSError, ValueError):
            record = {}
        yield record
        if record:
            tmp = record_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(record, f)
            os.replace(tmp, record_path)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(record_path)
    finally:
        os.close(lock)      # releases the lock


def _process_id(pid: int) -> str | None:
    """``pid:start-time``: names one process, not a later one given the same pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None                                  # exited, not yet reaped
    return f"{pid}:{fields[19]}"


def _alive(holder: str) -> bool:
    return _process_id(int(holder.split(":")[0])) == holder


def _read(fd: int) -> str:
    return os.pread(fd, 64, 0).decode().strip()


class SysctlGuard:
    """Owns one sysctl file together with any other live guards of it: ``set()``
    changes it, ``restore()`` (or any end of this process, SIGKILL included)
    leaves, and the last guard out puts the original back."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)   # usable after unshare
        read_end, self._pipe = os.pipe()                     # both close-on-exec
        self._pid = os.posix_spawn(
            sys.executable, [sys.executable, os.path.abspath(__file__), path],
            os.environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, read_end, 0),
                          (os.POSIX_SPAWN_CLOSE, self._pipe)],
            setsid=True)            # out of the terminal's process group: Ctrl-C spares it
        os.close(read_end)
        self._id = _process_id(self._pid) or f"{self._pid}:?"
        with _locked_record(path) as record:
            current = _read(self._fd)
            live = [h for h in record.get("holders", []) if _alive(h)]
            if not live and record.get("last_set") != current:
                record.clear()      # no record, or a stale one whose value someone replaced
            record.setdefault("original", current)
            record.setdefault("last_set", None)
            record["holders"] = live + [self._id]
            self.original = record["original"]

    @property
    def watcher_pid(self) -> int:
        return self._pid

    def get(self) -> str:
        return _read(self._fd)

    def set(self, value) -> None:
        text = str(int(value))
        with _locked_record(self.path) as record:
            current = _read(self._fd)
            others = [h for h in record.get("holders", []) if h != self._id and _alive(h)]
            if others and current.lstrip("-").isdigit() and int(current) > int(text):
                text = current          # another run needs more: never lower it under them
            os.pwrite(self._fd, text.encode(), 0)
            record.setdefault("original", current)
            record.setdefault("holders", [self._id])
            record["last_set"] = text

    def restore(self) -> None:
        """Leave: the watcher puts the original back if this was the last live
        guard, and is reaped.  Idempotent."""
        if self._pipe < 0:
            return
        os.close(self._pipe)
        self._pipe = -1
        os.close(self._fd)
        try:
            os.waitpid(self._pid, 0)
        except ChildProcessError:
            pass


def _leave(path: str, me: str) -> None:
    with _locked_record(path) as record:
        if not record:
            return
        live = [h for h in record.get("holders", []) if h != me and _alive(h)]
        if live:
            record["holders"] = live
            return
        with open(path, "r+") as f:
            if record.get("last_set") is not None and f.read().strip() == record["last_set"]:
                f.seek(0)
                f.write(record["original"])
        record.clear()


def _watch(path: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while os.read(0, 4096):
        pass                        # until the owner is gone (or done)
    _leave(path, _process_id(os.getpid()) or f"{os.getpid()}:?")


if __name__ == "__main__":
    _watch(sys.argv[1])
