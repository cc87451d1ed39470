"""`python -m ringcap`: the command line (see :mod:`ringcap.cli`)."""
from .cli import program

if __name__ == "__main__":
    program()
