"""An RBF SVM on scikit-learn's digits: the ready space and cross-validated objective, pruned after each fold,
the refitted best model kept as model.pkl.

    autotune run examples/sklearn_svm.py && autotune best sklearn_svm --export model/
"""

from sklearn.datasets import load_digits
from sklearn.svm import SVC

import autotune as at
from autotune.objectives.sklearn import sklearn_objective

X, y = load_digits(return_X_y=True)
X = X / 16.0

study = at.Study(
    name="sklearn_svm",
    space=at.spaces.svm(),
    objective=sklearn_objective(SVC(), X, y, scoring="accuracy", cv=4),
    metric="accuracy",
    mode="max",
    sampler="tpe",
    pruner="median",
    n_trials=25,
    seed=0,
)
