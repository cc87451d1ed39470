"""`-Z USER`: give up root once the ring and the first file are open, as tcpdump does.

The order is tcpdump's (``droproot``): the supplementary groups become
USER's (``initgroups``), then the group, then the user (``setgid``,
``setuid``); a last check makes sure root cannot be taken back.  Files
opened after that (rotation, Parquet partitions) are created as USER, so
USER must be able to create files in their folder: that is checked before
anything is opened.  ``-z`` commands start after the drop, as USER.
"""
from __future__ import annotations

import collections
import os
import pwd
import sys

from .options import CliError


class User(collections.namedtuple("User", "name uid gid groups")):
    """Who ``-Z`` becomes: name, uid, gid and the groups (a tuple of gids)."""

    __slots__ = ()

    def __str__(self) -> str:
        return f"{self.name} (uid {self.uid}, gid {self.gid})"


def lookup_user(text: str) -> User:
    """``-Z`` names a user (or a uid); its primary group and groups, as initgroups sees them."""
    try:
        entry = pwd.getpwnam(text)
    except KeyError:
        entry = None
        if text.isdigit():
            try:
                entry = pwd.getpwuid(int(text))
            except (KeyError, OverflowError):
                pass
    if entry is None:
        raise CliError(f"unknown user {text!r} for -Z: give an existing user name "
                       "(e.g. -Z nobody, or a user made for captures)")
    return User(entry.pw_name, entry.pw_uid, entry.pw_gid,
                tuple(os.getgrouplist(entry.pw_name, entry.pw_gid)))


def can_create_files(user: User, folder: str) -> bool:
    """Whether ``user`` may create files in ``folder`` (write and search), asked
    with the user's effective ids and groups, then back to root."""
    saved_groups = os.getgroups()
    saved_gid, saved_uid = os.getegid(), os.geteuid()
    try:
        os.setgroups(user.groups)
        os.setegid(user.gid)
        os.seteuid(user.uid)
        return os.access(folder, os.W_OK | os.X_OK, effective_ids=True)
    except OSError as exc:
        raise CliError(f"-Z {user.name}: cannot take the ids of {user} "
                       f"({exc.strerror or exc}); leave -Z out here") from None
    finally:
        os.seteuid(saved_uid)
        os.setegid(saved_gid)
        if os.getgroups() != saved_groups:
            os.setgroups(saved_groups)


def check_later_files(user: User, args, dataset: bool = False) -> None:
    """-Z USER with -w FILE, for a capture and for ``-r IN -w PART``: the first
    file is created before root is given up, the next ones (-C, -G, a
    dataset's) as USER, so USER must be able to create files in FILE's
    folder (its nearest existing one: a dataset root or a -G pattern made
    on the way).  Checked before anything is opened; without rotation only
    -z's commands, run as USER, are warned about."""
    if args.write in (None, "-"):
        return
    rotates = bool(args.file_size or args.rotate_seconds) or dataset
    folder = os.path.abspath(args.write if dataset else
                             os.path.dirname(os.path.abspath(args.write)))
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    if can_create_files(user, folder):
        return
    if rotates:
        raise CliError(f"-Z {user.name}: the files after the first are created as {user.name}, "
                       f"who cannot create files in {folder}; make the folder writable for "
                       f"{user.name} (e.g. chown {user.name} {folder}) or leave -Z out")
    if args.post_rotate:
        print(f"ringcap: warning: -z runs as {user.name}, who cannot create files in "
              f"{folder}: a command that writes beside the file (gzip) will fail",
              file=sys.stderr)


def drop_privileges(user: User) -> None:
    """Become ``user`` for good: initgroups, setgid, setuid; then check."""
    # what is imported on first use later (a pump's check of ring.read, the
    # records' dataclass fields), imported now: after the drop the install
    # may be unreadable
    import dataclasses  # noqa: F401
    import inspect  # noqa: F401
    try:
        os.initgroups(user.name, user.gid)
        os.setgid(user.gid)
        os.setuid(user.uid)
    except OSError as exc:
        raise CliError(f"cannot change to user {user} for -Z: "
                       f"{exc.strerror or exc}") from None
    ids = (os.getuid(), os.geteuid(), os.getgid(), os.getegid())
    if ids != (user.uid, user.uid, user.gid, user.gid):
        raise CliError(f"-Z {user.name}: the ids did not change as asked (uid/euid/gid/egid "
                       f"{ids}); stopping rather than running with them")
    if user.uid != 0:
        try:
            os.setuid(0)
        except PermissionError:
            return
        raise CliError(f"-Z {user.name}: root could be taken back after the change; stopping")
