"""``python -m fastrpca``: the command line (see :mod:`fastrpca.cli`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
