"""``python -m gvin.cli``: the ``gvin`` command."""
import sys

from gvin.cli import main

sys.exit(main())
