"""The objective contract (``objective(config, trial)``) and ready objectives for PyTorch, LightGBM, scikit-learn."""

from autotune.errors import TrialPruned
from autotune.objectives._checkpoints import forgetters
from autotune.objectives._contract import PAUSE, Outcome, Trial, as_real, parse_result, run_objective
from autotune.objectives._metric import check_objective_metric

__all__ = ["PAUSE", "Outcome", "Trial", "TrialPruned", "as_real", "check_objective_metric", "forgetters",
           "parse_result", "run_objective"]
