"""``python -m creditkit.cli``: the ``creditkit`` command."""

import sys

from creditkit.cli import main

sys.exit(main())
