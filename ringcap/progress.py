"""Progress display for long captures: a tqdm bar in a terminal or in Jupyter.

tqdm is optional (``pip install ringcap[progress]``); without it, the
default (``progress=None``) shows nothing and ``progress=True`` says what
to install.
"""
from __future__ import annotations

import contextlib
import sys


def interactive() -> bool:
    """True in Jupyter/IPython or when stderr is a terminal."""
    if "ipykernel" in sys.modules or hasattr(sys, "ps1"):
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


@contextlib.contextmanager
def progress_callback(progress, *, total: int | None = None, what: str = ""):
    """Yield a callable for ``pump(progress=...)`` (or None), per ``progress``:
    None: a bar when interactive and tqdm is installed; True: a bar (tqdm
    required); False: nothing; a callable: itself."""
    if progress is False or (progress is None and not interactive()):
        yield None
        return
    if callable(progress) and progress is not True:
        yield progress
        return
    tqdm = _tqdm()
    if tqdm is None:
        if progress is True:
            raise ImportError("progress=True needs tqdm: pip install 'ringcap[progress]'")
        yield None
        return
    bar = tqdm(total=total, unit=" pkt", unit_scale=True, desc=f"capture {what}".strip(),
               leave=True, dynamic_ncols=True)
    shown = 0

    def update(snapshot) -> None:
        nonlocal shown
        bar.update(snapshot.packets - shown)
        shown = snapshot.packets
        bar.set_postfix(drops=snapshot.drops, if_drops=snapshot.if_drops, refresh=False)

    try:
        yield update
    finally:
        bar.close()
