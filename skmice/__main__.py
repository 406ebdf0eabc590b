"""``python -m skmice``: the same as the ``skmice`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
