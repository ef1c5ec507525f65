"""Leaving a process without the interpreter's teardown.

Once a study file has loaded PyTorch or the like, unloading it at exit costs most of a second that an idle worker
or a finished command does not need. ``leave`` skips that teardown but keeps what matters: the exit handlers
(``atexit``: a user's own, Ray's shutdown) run and the output is flushed first.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn


def leave(code: int = 0) -> NoReturn:
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing left to write to
            pass
    os._exit(code)
