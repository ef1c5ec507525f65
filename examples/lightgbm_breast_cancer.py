"""LightGBM on scikit-learn's breast-cancer data: the ready space and objective, reported every 10 boosting rounds
to the median pruner, the best booster kept as model.txt.

    autotune run examples/lightgbm_breast_cancer.py && autotune best lightgbm_breast_cancer --export model/
"""

from sklearn.datasets import load_breast_cancer

import autotune as at
from autotune.objectives.lightgbm import lightgbm_mode, lightgbm_objective

X, y = load_breast_cancer(return_X_y=True)

study = at.Study(
    name="lightgbm_breast_cancer",
    space=at.spaces.lightgbm(),
    objective=lightgbm_objective(X, y, task="binary", metric="binary_logloss", report_every=10),
    metric="binary_logloss",
    mode=lightgbm_mode("binary_logloss"),
    sampler="tpe",
    pruner="median",
    n_trials=30,
    seed=0,
)
