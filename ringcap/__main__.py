"""`python -m ringcap`: the command line (see :mod:`ringcap.cli`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
