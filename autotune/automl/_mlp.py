"""The PyTorch multi-layer perceptron family: trained with PyTorch, kept and run as plain arrays.

:class:`TorchMLP` is a scikit-learn estimator. ``fit`` trains a ReLU network with Adam in PyTorch (mini-batches,
dropout, weight decay; cross-entropy for classes, squared error on the standardised target for regression) and
keeps only its weights as NumPy arrays; ``predict`` and ``predict_proba`` run the network in NumPy. A saved pipeline
therefore holds arrays and nothing else of PyTorch's: it loads with skops' list of trusted types, and predicting
does not need PyTorch installed.
"""

from __future__ import annotations

import time

import numpy as np

try:
    from sklearn.base import BaseEstimator
except ImportError:  # pragma: no cover - AutoML needs scikit-learn; the error is raised where it is used
    BaseEstimator = object


class TorchMLP(BaseEstimator):
    """A ReLU network of ``layers`` hidden layers of ``hidden`` units. ``task``: binary, multiclass or
    regression; ``class_weight``: None or ``"balanced"``; ``threads``: PyTorch's CPU threads while fitting.
    ``fit(X, y, deadline=)`` checks the deadline (a ``time.time()``) before each epoch."""

    def __init__(self, task: str = "binary", hidden: int = 64, layers: int = 1, dropout: float = 0.0,
                 lr: float = 1e-3, weight_decay: float = 0.0, batch_size: int = 64, epochs: int = 10,
                 class_weight=None, threads: int = 1, seed: int = 0):
        self.task, self.hidden, self.layers, self.dropout = task, hidden, layers, dropout
        self.lr, self.weight_decay, self.batch_size, self.epochs = lr, weight_decay, batch_size, epochs
        self.class_weight, self.threads, self.seed = class_weight, threads, seed

    def fit(self, X, y, deadline: float | None = None):
        import torch

        X = np.asarray(X, dtype=np.float32)
        regression = self.task == "regression"
        if regression:
            y = np.asarray(y, dtype=np.float64)
            self.y_mean_ = float(y.mean()) if len(y) else 0.0
            std = float(y.std()) if len(y) else 1.0
            self.y_scale_ = std if std > 1e-12 else 1.0
            target = torch.from_numpy(((y - self.y_mean_) / self.y_scale_).astype(np.float32))
            n_out = 1
        else:
            self.classes_ = np.unique(y)
            codes = np.searchsorted(self.classes_, y)
            target = torch.from_numpy(codes.astype(np.int64))
            n_out = len(self.classes_)
        before = torch.get_num_threads()
        torch.set_num_threads(max(1, int(self.threads)))
        try:
            net = self._train(torch, torch.from_numpy(X), target, n_out, regression,
                              None if regression else np.bincount(codes, minlength=n_out), deadline)
        finally:
            torch.set_num_threads(before)
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        self.coefs_ = [m.weight.detach().numpy().T.copy() for m in linears]
        self.intercepts_ = [m.bias.detach().numpy().copy() for m in linears]
        self.n_features_in_ = X.shape[1]
        return self

    def _train(self, torch, X, target, n_out: int, regression: bool, counts, deadline):
        from autotune.automl._families import OutOfTime

        gen = torch.Generator().manual_seed(int(self.seed))
        torch.manual_seed(int(self.seed))
        width, blocks, n_in = int(self.hidden), [], X.shape[1]
        for _ in range(int(self.layers)):
            blocks += [torch.nn.Linear(n_in, width), torch.nn.ReLU()]
            if self.dropout > 0:
                blocks.append(torch.nn.Dropout(float(self.dropout)))
            n_in = width
        net = torch.nn.Sequential(*blocks, torch.nn.Linear(n_in, n_out))
        opt = torch.optim.Adam(net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
        if regression:
            loss_fn = torch.nn.MSELoss()
        else:
            weight = None
            if self.class_weight == "balanced":
                weight = torch.tensor(len(target) / (n_out * np.maximum(counts, 1)), dtype=torch.float32)
            loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
        n, batch = len(X), max(1, min(int(self.batch_size), len(X)))
        net.train()
        for _ in range(int(self.epochs)):
            if deadline is not None and time.time() > deadline:
                raise OutOfTime
            order = torch.randperm(n, generator=gen)
            for start in range(0, n, batch):
                rows = order[start:start + batch]
                out = net(X[rows])
                loss = loss_fn(out.squeeze(1) if regression else out, target[rows])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        net.eval()
        return net

    def _forward(self, X) -> np.ndarray:
        h = np.asarray(X, dtype=np.float32)
        last = len(self.coefs_) - 1
        for i, (w, b) in enumerate(zip(self.coefs_, self.intercepts_, strict=True)):
            h = h @ w + b
            if i < last:
                np.maximum(h, 0.0, out=h)
        return h.astype(np.float64)

    def predict_proba(self, X) -> np.ndarray:
        z = self._forward(X)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        if self.task == "regression":
            return self._forward(X)[:, 0] * self.y_scale_ + self.y_mean_
        return self.classes_[np.argmax(self._forward(X), axis=1)]
