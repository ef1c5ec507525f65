"""The objective contract (``objective(config, trial)``) and, later, ready objectives for common libraries."""

from autotune.errors import TrialPruned
from autotune.objectives._contract import Outcome, Trial, parse_result, run_objective

__all__ = ["Outcome", "Trial", "TrialPruned", "parse_result", "run_objective"]
