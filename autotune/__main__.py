"""``python -m autotune``: the ``autotune`` command, for environments without the installed script."""

import sys

from autotune.cli import main

sys.exit(main())
