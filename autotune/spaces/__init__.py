"""Search spaces: ``uniform``, ``loguniform``, ``randint`` (inclusive), ``choice`` (values or sub-spaces), ``fixed``."""

from autotune.spaces._domains import (
    Categorical,
    Conditional,
    Domain,
    Fixed,
    Float,
    Int,
    choice,
    fixed,
    loguniform,
    randint,
    uniform,
)
from autotune.spaces._space import Space

__all__ = ["Categorical", "Conditional", "Domain", "Fixed", "Float", "Int", "Space", "choice", "fixed",
           "loguniform", "randint", "uniform"]
