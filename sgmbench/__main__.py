"""``python -m sgmbench``: the command line (see :mod:`sgmbench.cli`)."""

import sys

from sgmbench.cli import main

if __name__ == "__main__":  # guard: Dask's worker processes re-import the main module
    sys.exit(main())
