"""The checks of a study's settings that ``Study(...)`` and a run share: durations, seeds, names, counts (the
halving pruner's needs are checked in ``autotune.search``). Nothing here touches a database."""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable
from typing import Any

from autotune.errors import ConfigError

NO_LIMIT = 2**31 - 1  # a study without n_trials: the budget no run reaches (the database holds 32-bit counts)

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*$")


def parse_duration(value: Any, what: str = "timeout") -> float | None:
    """Seconds from a number or a string such as ``90``, ``90s``, ``30m``, ``1h30m``; None stays None.

    >>> parse_duration("1h30m"), parse_duration(45)
    (5400.0, 45.0)
    """
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m or not any(m.groups()):
            raise ConfigError(f"{what} {value!r} is not a duration; write seconds (90), or e.g. 90s, 30m, 1h30m.")
        h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = h * 3600 + mi * 60 + s
    if not seconds > 0:
        raise ConfigError(f"{what} must be positive, but got {value!r}.")
    return seconds


MAX_SEED = 2**32 - 1  # numpy's and Optuna's samplers take seeds up to this


def check_seed(seed: Any) -> int:
    """A seed is an integer from 0 to 2**32 - 1 (what numpy's random generators accept)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"`seed` must be an integer from 0 to {MAX_SEED}, but got {seed!r}.")
    return int(seed)


def check_study_name(name: Any) -> str:
    """One rule for study names on every storage (see ``autotune._names``)."""
    from autotune._names import STUDY_NAME_RULE, study_name_problem

    problem = study_name_problem(name)
    if problem:
        raise ConfigError(f"`name`: {problem}; {STUDY_NAME_RULE}. Rename the study.")
    return name


def check_signature(objective: Callable) -> None:
    """An objective is called as objective(config, trial): refuse one that cannot be, before any trial fails."""
    import inspect

    try:
        signature = inspect.signature(objective, follow_wrapped=False)  # a decorator's wrapper is what is called
    except (TypeError, ValueError):  # a builtin or an extension type without a signature: let it be tried
        return
    try:
        signature.bind(None, None)
    except TypeError:
        name = getattr(objective, "__name__", type(objective).__name__)
        raise ConfigError(f"`objective` is called as objective(config, trial), but {name}{signature} cannot take "
                          "those two arguments; define it as def objective(config, trial): ... (an Optuna-style "
                          "objective(trial) reads its parameters from config instead).") from None


def is_optuna(obj: Any, module: str, name: str) -> bool:
    """Whether ``obj`` is an instance of ``optuna.<module>.<name>`` (names need no optuna import)."""
    if isinstance(obj, str) or obj is None:
        return False
    import optuna

    return isinstance(obj, getattr(getattr(optuna, module), name))


def check_int(name: str, value: Any, low: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ConfigError(f"`{name}` must be an integer >= {low}, but got {value!r}.")
    return int(value)

