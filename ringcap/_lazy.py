"""Names a module finds in other modules on first use (PEP 562).

A package or module that re-exports names from modules it should not
import at start-up (numpy, pyarrow, ctypes: ``ringcap -w`` needs none of
them) gives its ``__getattr__`` from :func:`lazy_attributes`.
"""
from __future__ import annotations

import importlib
import sys


def lazy_attributes(module: str, homes: dict[str, str]):
    """A module ``__getattr__`` for ``module`` (its ``__name__``).

    ``homes`` maps each name to the module that defines it, absolute
    (``"ringcap.filtering"``), or ``"MODULE:ATTRIBUTE"`` where the name
    differs there.  The value found is kept in ``module``, so the next
    look-up is an ordinary one.
    """
    def __getattr__(name: str):
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        where, _, attribute = home.partition(":")
        value = getattr(importlib.import_module(where), attribute or name)
        setattr(sys.modules[module], name, value)
        return value
    return __getattr__
