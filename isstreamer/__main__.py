"""``python -m isstreamer``: the same command line as the ``isstreamer`` script."""

import sys

from .cli import main

sys.exit(main())
