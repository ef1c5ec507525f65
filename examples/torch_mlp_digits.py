"""A PyTorch MLP on scikit-learn's digits: the ready space and training loop, reported every epoch to the halving
pruner (every trial paused after its first epoch, the better half continued from its checkpoint, and so on),
checkpointed before each pause, the best state_dict kept as model.pt. The study maximises validation accuracy, the score
a digit classifier is judged by (each trial also stores the validation loss of its best epoch). The learning rate is
annealed to zero over the epochs (cosine): at a constant rate the best trials' validation loss still moves a lot
from one of the last epochs to the next, so a trial's best epoch is partly luck and the pruner ranks trials on
noise.

    autotune run examples/torch_mlp_digits.py && autotune best torch_mlp_digits --export model/
"""

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import autotune as at
from autotune.objectives.torch import torch_objective

torch.set_num_threads(1)  # a small MLP trains fastest on one thread; for more, run trials side by side (--parallelism)
X, y = load_digits(return_X_y=True)
X_tr, X_va, y_tr, y_va = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
train = (torch.tensor(X_tr, dtype=torch.float32), torch.tensor(y_tr))
valid = (torch.tensor(X_va, dtype=torch.float32), torch.tensor(y_va))


def make_model(config):
    layers, width = [], 64
    for _ in range(config["layers"]):
        layers += [torch.nn.Linear(width, config["hidden"]), torch.nn.ReLU(), torch.nn.Dropout(config["dropout"])]
        width = config["hidden"]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))


study = at.Study(
    name="torch_mlp_digits",
    space=at.spaces.mlp(hidden=at.randint(16, 128, log=True), batch_size=at.choice([64, 128])),
    objective=torch_objective(make_model, train, valid, epochs=10, metric="accuracy", lr_schedule="cosine"),
    metric="accuracy",
    mode="max",
    sampler="tpe",
    pruner="halving",
    n_trials=12,
    seed=0,
)
