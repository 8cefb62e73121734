"""``python -m fastrpca``: the command line (see :mod:`fastrpca.app.cli`)."""

import sys

from .app.cli import main

if __name__ == "__main__":
    sys.exit(main())
