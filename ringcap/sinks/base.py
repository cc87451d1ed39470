"""The `Sink` base class: what every consumer of batches over time offers."""
from __future__ import annotations

import warnings

from .._frozen import field, frozen


@frozen
class SinkSummary:
    """What a sink wrote, returned by :meth:`Sink.close`.

    ``packets`` and ``bytes``: packets written and bytes of output they and
    the file framing took; ``files``: the finished files, in the order they
    were finished (a file overwritten by a ring buffer of files appears once,
    at its last place); ``refused``: packets offered after the sink was done
    (a file limit reached) and therefore not written; ``lost``: of
    ``packets``, those a failed write (a full disk) kept out of the files.
    """

    packets: int = 0
    bytes: int = 0
    files: tuple[str, ...] = ()
    refused: int = 0
    lost: int = 0
    extra: dict = field(default_factory=dict)


class Sink:
    """Base of every sink.  Subclasses implement ``_write``, ``_flush`` and ``_close``.

    The base keeps the lifetime rules in one place: ``close()`` is idempotent
    (a second call returns the first call's summary), writing to a closed sink
    raises ``ValueError``, the sink is a context manager, and a sink
    collected without ``close()`` warns (``ResourceWarning``) and closes.
    """

    packets_written: int = 0
    bytes_written: int = 0
    refused: int = 0
    _summary: SinkSummary | None = None
    _closing = False

    def __init__(self) -> None:
        self.packets_written = 0
        self.bytes_written = 0
        self.refused = 0
        self.files: list[str] = []
        self._summary = None
        self._closing = False

    # -------------------------------------------------------------- the protocol
    def write(self, batch) -> int:
        """Write every packet of ``batch``; returns how many were written
        (fewer only when the sink is :attr:`done`)."""
        self._check_open()
        if len(batch) == 0:
            return 0
        return self._write(batch)

    def ring_writer(self, ring):
        """A function ``(max_packets, timeout, linger=None) -> (packets, captured
        bytes)`` that moves packets from ``ring`` straight into this sink's
        output, or None: the sink takes batches only (:meth:`write`).  It may go
        on taking packets as they come until ``linger`` seconds (None: the
        ``timeout``).  :func:`~ringcap.sinks.pump` uses it when nothing needs
        the packets as a batch first (no ``select``)."""
        return None

    def flush(self) -> None:
        """Hand everything buffered to the operating system."""
        self._check_open()
        self._flush()

    def tick(self, now_ns: int | None = None) -> None:
        """Housekeeping on a quiet link: finish files whose time is up.
        Call it now and then when no packets arrive (the capture loops do)."""

    @property
    def done(self) -> bool:
        """True once the sink takes no more packets (e.g. ``-W N`` files with ``-G``)."""
        return False

    def close(self, stats=None) -> SinkSummary:
        """Finish every file (with ``stats`` where the format keeps them, e.g.
        a pcapng statistics block) and return the :class:`SinkSummary`.
        Idempotent; safe to call again after an error or from a second Ctrl-C."""
        if self._summary is not None:
            return self._summary
        if self._closing:
            return self._partial_summary()
        self._closing = True
        try:
            self._close(stats)
        finally:
            self._summary = self._partial_summary()
        return self._summary

    @property
    def closed(self) -> bool:
        return self._summary is not None or self._closing

    @property
    def packets_in_files(self) -> int:
        """Packets whose records the operating system already holds in this
        sink's output: what a process killed now (SIGKILL, the OOM killer)
        leaves behind.  This base counts every packet written (a sink that
        hands each batch on at once); sinks that buffer say less."""
        return self.packets_written - getattr(self, "packets_lost", 0)

    @property
    def bytes_in_files(self) -> int:
        """The bytes of output behind :attr:`packets_in_files`."""
        return self.bytes_written

    @property
    def files_being_written(self) -> list[str]:
        """Files open now under their final names, which readers see as they
        grow (and a process killed now leaves as they are); none here."""
        return []

    # -------------------------------------------------------------- for subclasses
    def _write(self, batch) -> int:
        raise NotImplementedError

    def _flush(self) -> None:
        pass

    def _close(self, stats) -> None:
        pass

    def _partial_summary(self) -> SinkSummary:
        return SinkSummary(packets=self.packets_written, bytes=self.bytes_written,
                           files=tuple(self.files), refused=self.refused,
                           lost=getattr(self, "packets_lost", 0))

    def _abandon(self) -> None:
        """Mark a sink whose construction failed as closed (no warning later)."""
        self._closing = True
        self._summary = self._partial_summary()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"{type(self).__name__} is closed")

    # -------------------------------------------------------------- lifetime
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        # vars(): a sink whose __init__ raised before Sink.__init__ has nothing to close
        if vars(self).get("_summary", 1) is None and not vars(self).get("_closing", True):
            warnings.warn(f"unclosed {type(self).__name__}", ResourceWarning, stacklevel=2)
            try:
                self.close()
            except Exception:
                pass
