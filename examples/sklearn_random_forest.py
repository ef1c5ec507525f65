"""A random forest on scikit-learn's wine data: the ready space (fewer trees, to stay quick) and cross-validated
objective, pruned after each fold, the refitted best model kept as model.pkl.

    autotune run examples/sklearn_random_forest.py && autotune best sklearn_random_forest --export model/
"""

from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier

import autotune as at
from autotune.objectives.sklearn import sklearn_objective

X, y = load_wine(return_X_y=True)

study = at.Study(
    name="sklearn_random_forest",
    space=at.spaces.random_forest(n_estimators=at.randint(10, 80, log=True)),
    objective=sklearn_objective(RandomForestClassifier(random_state=0, n_jobs=1), X, y, scoring="accuracy", cv=4),
    metric="accuracy",
    mode="max",
    sampler="tpe",
    pruner="median",
    n_trials=20,
    seed=0,
)
