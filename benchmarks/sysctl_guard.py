"""Put a machine-wide sysctl back however the process that changed it ends.

The test session and the benchmarks raise ``net.core.netdev_max_backlog``
(global, visible only from the initial network namespace) and restore it on
a normal exit.  A run killed with SIGKILL, or stopped by an unhandled
signal, never gets there.  :class:`SysctlGuard` therefore forks a small
watcher process *before* the caller leaves the initial namespace: it holds
the original value and the read end of a pipe whose write end only the
caller has.  Every value the caller sets is announced on the pipe; when the
pipe reaches end of file (the caller closed it, exited or was killed) the
watcher writes the original back, unless the sysctl no longer holds the
value the caller set (someone else changed it since: theirs stays).

Run as a script, this file is the watcher: ``sysctl_guard.py PATH ORIGINAL``.
Standard library only: the test session loads it before ringcap is built.
"""
from __future__ import annotations

import os
import signal
import sys


class SysctlGuard:
    """Owns one sysctl file: ``set()`` changes it, ``restore()`` (or any end of
    this process, SIGKILL included) puts the original back."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)   # usable after unshare
        self.original = os.pread(self._fd, 64, 0).decode().strip()
        self._set_to: str | None = None
        read_end, self._pipe = os.pipe()                     # both close-on-exec
        self._pid = os.posix_spawn(
            sys.executable, [sys.executable, os.path.abspath(__file__), path, self.original],
            os.environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, read_end, 0),
                          (os.POSIX_SPAWN_CLOSE, self._pipe)],
            setsid=True)            # out of the terminal's process group: Ctrl-C spares it
        os.close(read_end)

    @property
    def watcher_pid(self) -> int:
        return self._pid

    def get(self) -> str:
        return os.pread(self._fd, 64, 0).decode().strip()

    def set(self, value) -> None:
        text = str(int(value))
        os.write(self._pipe, f"{text}\n".encode())           # announce before writing
        os.pwrite(self._fd, text.encode(), 0)
        self._set_to = text

    def restore(self) -> None:
        """Put the original back now (if the value is still ours) and stop the watcher.
        Idempotent."""
        if self._pipe < 0:
            return
        try:
            if self._set_to is not None and self.get() == self._set_to:
                os.pwrite(self._fd, self.original.encode(), 0)
        finally:
            os.close(self._pipe)
            self._pipe = -1
            os.close(self._fd)
            try:
                os.waitpid(self._pid, 0)
            except ChildProcessError:
                pass


def _watch(path: str, original: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    set_to = None
    pending = b""
    while True:
        chunk = os.read(0, 4096)
        if not chunk:
            break                   # the owner is gone (or done)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if lines:
            set_to = lines[-1].decode()
    if set_to is None:
        return
    with open(path, "r+") as f:
        if f.read().strip() == set_to:
            f.seek(0)
            f.write(original)


if __name__ == "__main__":
    _watch(sys.argv[1], sys.argv[2])
