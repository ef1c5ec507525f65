"""``python -m autotune``: the ``autotune`` command, for environments without the installed script."""

from autotune.cli import entry

entry()
