"""`python -m ringcap`: the command line (see :mod:`ringcap.cli`)."""
import gc

if __name__ == "__main__":
    # no garbage collections while the command line loads (ringcap.cli and
    # argparse, then numpy and what the command needs): what it imports lives
    # as long as the process.  The program freezes it and turns the
    # collector on again once the command is loaded (ringcap.cli._main).
    gc.disable()

from .cli import program  # noqa: E402

if __name__ == "__main__":
    program()
