"""Where the ready objectives keep a trial's checkpoint: one file per study and configuration, so that a trial
continued later (resumed after a crash, or promoted by the halving pruner) finds it whoever runs it."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

DEFAULT_FOLDER = os.path.join(".autotune", "checkpoints")


def checkpoint_path(folder: str | None, study_name: str, config: dict[str, Any], suffix: str) -> str:
    key = hashlib.sha1(json.dumps([study_name, config], sort_keys=True, default=str).encode()).hexdigest()
    return os.path.join(folder or DEFAULT_FOLDER, study_name or "study", f"{key[:20]}{suffix}")


def scratch(path: str) -> str:
    """A temporary name beside ``path`` for writing a checkpoint before ``os.replace`` puts it in place: one per
    process, so that two trials of the same configuration running at once never write into one file."""
    return f"{path}.{os.getpid()}.tmp"


def remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
