"""``python -m bridgebot``: the same as the ``bridgebot`` command."""

import sys

from bridgebot.cli import main

sys.exit(main())
