"""`RingView`: a batch read in place from a ring's blocks (zero copy).

Made by :meth:`ringcap.RxRing.read_view`; found as ``ringcap.RingView`` and
``ringcap.ring.RingView``.  Apart from :mod:`ringcap.ring` because it is a
:class:`~ringcap.Batch` (numpy), which a ring writing pcap records straight
into a file never needs.
"""
from __future__ import annotations

import numpy as np

from .batch import COLUMNS, Batch


class RingView(Batch):
    """A batch whose bytes are read in place from the ring (zero copy).

    The metadata columns are ordinary arrays; ``data`` is a read-only view of
    the ring's mapping, and the kernel blocks it points into are kept from the
    kernel until :meth:`release` (or the end of a ``with`` block).  After
    release, ``data`` and everything that reads packet bytes raise
    ``ValueError``; call :meth:`copy` first to keep the packets.  Slices and
    masks of a view are views sharing its lifetime.  Arrays taken out of
    ``data`` before release must not be used after it (the memory stays
    mapped, so this cannot crash, but the kernel will have reused it).
    """

    __slots__ = ("_lease",)

    @property  # type: ignore[override]
    def data(self):
        if self._lease.released:
            raise ValueError("this RingView was released: its bytes belong to the kernel "
                             "again; copy() it before release() to keep them")
        return Batch.data.__get__(self)

    @data.setter
    def data(self, value):
        Batch.data.__set__(self, value)

    @property
    def released(self) -> bool:
        return self._lease.released

    def release(self) -> None:
        """Give the ring blocks back to the kernel.  Idempotent."""
        self._lease.release()

    def __enter__(self) -> "RingView":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __getitem__(self, index):
        result = super().__getitem__(index)
        if isinstance(result, Batch):
            view = RingView.__new__(RingView)
            for name in COLUMNS:
                setattr(view, name, getattr(result, name))
            Batch.data.__set__(view, Batch.data.__get__(result))
            view.drops, view.freeze_count, view.interfaces = (
                result.drops, result.freeze_count, result.interfaces)
            view._store = None
            view._lease = self._lease
            return view
        return result

    def copy(self) -> Batch:
        """A packed, ordinary batch owning a copy of the packets."""
        plain = Batch.__new__(Batch)
        for name in COLUMNS:
            setattr(plain, name, getattr(self, name))
        plain.data = self.data
        plain.drops, plain.freeze_count, plain.interfaces = (
            self.drops, self.freeze_count, self.interfaces)
        plain._store = None
        return plain.copy()

    @classmethod
    def _over(cls, store: dict, n: int, mapping, drops: int, freezes: int, interfaces,
              lease) -> "RingView":
        """A view of ``n`` packets: the columns ``store`` holds, the bytes in ``mapping``
        (the ring's, or None), holding the blocks ``lease`` gives back."""
        view = cls.__new__(cls)
        for name, dt in COLUMNS.items():
            setattr(view, name, store[name][:n] if store else np.empty(0, dtype=dt))
        Batch.data.__set__(view, np.frombuffer(mapping, dtype=np.uint8)
                           if mapping is not None else np.empty(0, dtype=np.uint8))
        view.drops, view.freeze_count, view.interfaces = drops, freezes, interfaces
        view._store = None
        view._lease = lease
        return view

    def __repr__(self) -> str:
        state = "released" if self.released else "held"
        return super().__repr__()[:-1].replace("<Batch", "<RingView") + f", {state}>"
