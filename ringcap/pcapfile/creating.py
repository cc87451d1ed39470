"""Creating capture files safely: never through a symbolic link (but the
system's own, /dev/stdout), never into a name someone else holds in a folder
anyone can write, with the permissions asked for; and the descriptor of an
open file object.  Used by :class:`~ringcap.pcapfile.writer.PcapWriter`.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat as _stat


def _open_for_writing(path, mode: int, overwrite: bool) -> int:
    """Create ``path`` for writing, never through a symbolic link.

    With ``overwrite`` an existing file is truncated (as ``open(path, "wb")``
    and ``tcpdump -w`` do); without it an existing name is refused
    (``O_EXCL``).  A symbolic link is never followed (``O_NOFOLLOW``), except
    the system's own in ``/dev`` and ``/proc`` (``/dev/stdout``,
    ``/dev/fd/3``, ``/proc/self/fd/3``), which only root can plant and which
    ``tcpdump -w`` users name for an open descriptor.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
    flags |= os.O_TRUNC if overwrite else os.O_EXCL
    if not _system_link(path):
        flags |= os.O_NOFOLLOW
    with contextlib.suppress(FileNotFoundError):
        _check_not_planted(path, os.lstat(path))      # (a FIFO's open would wait for a reader)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError as error:
        raise FileExistsError(
            error.errno, f"{os.fsdecode(path)} already exists and overwrite=False; remove it, "
            "or leave overwrite at its default (True) to replace it") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OSError(error.errno, f"{os.fsdecode(path)} is a symbolic link; capture files "
                          "are never written through one (remove it, or give the real path)") from None
        raise
    try:
        st = os.fstat(fd)
        _check_not_planted(path, st)                  # (swapped in after the check above)
        # O_CREAT leaves an existing file's permissions alone: narrow them too.
        if _stat.S_ISREG(st.st_mode) and st.st_mode & 0o7777 & ~mode:
            os.fchmod(fd, st.st_mode & 0o7777 & mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_not_planted(path, st: os.stat_result) -> None:
    """Refuse a file or FIFO someone else left in a sticky folder anyone can
    write (/tmp, /var/tmp, /dev/shm): its owner would read the capture (the
    kernel's rule with fs.protected_regular/protected_fifos, which are off on
    many systems)."""
    if not (_stat.S_ISREG(st.st_mode) or _stat.S_ISFIFO(st.st_mode)):
        return
    folder_name = os.path.dirname(os.path.abspath(os.fsdecode(path)))
    folder = os.stat(folder_name)
    shared = folder.st_mode & _stat.S_ISVTX and folder.st_mode & _stat.S_IWOTH
    if shared and st.st_uid not in (os.geteuid(), folder.st_uid):
        kind = "a FIFO" if _stat.S_ISFIFO(st.st_mode) else "a file"
        raise PermissionError(
            errno.EACCES, f"{os.fsdecode(path)} is {kind} of uid {st.st_uid} in {folder_name}, "
            "a folder anyone can write: a capture is never written into a name someone else "
            "holds there (remove it, or choose another name)")


def _system_link(path) -> bool:
    """A name in /dev itself or under /proc: the descriptors' links
    (/dev/stdout, /dev/fd/N -> /proc/self/fd/N), in folders only root writes."""
    folder = os.path.realpath(os.path.dirname(os.path.abspath(os.fsdecode(path))))
    return folder == "/dev" or folder.startswith("/proc/")


def _fileno(target) -> int:
    """The descriptor of an int or a file object, after flushing the object's own buffer."""
    if isinstance(target, int):
        return target
    flush = getattr(target, "flush", None)
    if flush is not None:
        flush()
    return target.fileno()
