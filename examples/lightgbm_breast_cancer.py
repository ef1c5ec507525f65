"""LightGBM on scikit-learn's breast-cancer data: the ready space and objective, scored by 5-fold cross-validation,
reported every 10 boosting rounds, halved from 100 rounds on (pause and promote: every trial trains 100 rounds and
pauses, the better half continue from their boosters to 200, and so on), the best booster kept as model.txt.

With 569 samples a single validation split holds about 100 of them, and a study that selects on it overfits the
split. With a fifth of the data held out for testing, the best trials of 20 single-split studies (60 trials, the
learning rate fixed at 0.1) averaged a validation log-loss of 0.015 and a test log-loss of 0.28; the best trials of
12 studies scored by 5-fold cross-validation (40 trials, this space), 0.088 and 0.149.
Cross-validation scores every sample, and it smooths the learning curves that the pruner compares.

    autotune run examples/lightgbm_breast_cancer.py && autotune best lightgbm_breast_cancer --export model/
"""

from sklearn.datasets import load_breast_cancer

import autotune as at
from autotune.objectives.lightgbm import lightgbm_mode, lightgbm_objective
from autotune.search import HalvingPruner

X, y = load_breast_cancer(return_X_y=True)

study = at.Study(
    name="lightgbm_breast_cancer",
    space=at.spaces.lightgbm(),
    objective=lightgbm_objective(X, y, task="binary", metric="binary_logloss", folds=5, report_every=10),
    metric="binary_logloss",
    mode=lightgbm_mode("binary_logloss"),
    sampler="tpe",
    pruner=HalvingPruner(min_resource=10),  # the first rung after 10 reports: 100 rounds
    n_trials=40,
    seed=0,
)
