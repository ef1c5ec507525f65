"""A ready PyTorch training loop: the user gives a model factory, the data (tensors or DataLoaders), a loss and an
optimiser factory; each trial trains on its device (``trial.device``: its GPU when it has one, else the CPU),
reports the validation metric every epoch for pruning, checkpoints every 30 s (``checkpoint_every``) and before a
pause -- so that a trial interrupted by a crash or a pre-empted node continues from its last checkpoint when the
study resumes -- and keeps the best epoch's
``state_dict`` as the trial's ``model.pt`` (load it with ``torch.load(path, weights_only=True)``).

Checkpoints are keyed by study and configuration, in ``checkpoint_dir`` (default ``.autotune/checkpoints``, under
the current folder; give a shared folder when trials may resume on another node), and removed when the trial ends.
A trial that resumes from a checkpoint first reports the checkpointed epochs it has not reported yet (a crashed
trial, queued again as a new one, reports them all), so its learning curve has no gap and a pruner compares it
with the others at equal epochs.
A trial paused by the halving pruner (``pruner="halving"``) keeps its checkpoint and continues from it, with its
optimiser and learning-rate schedule, if it is promoted; the pruner removes it if not.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from typing import Any

from autotune.errors import ConfigError, TrialPaused, TrialPruned
from autotune.objectives import _checkpoints
from autotune.objectives._base import ready
from autotune.objectives._metric import MetricRule

# the metrics the loop computes on the validation data, with their natural direction
METRICS = {"val_loss": "min", "loss": "min", "accuracy": "max", "val_accuracy": "max", "acc": "max", "val_acc": "max"}
_COMPUTES = "val_loss or loss (mode='min'), accuracy, val_accuracy, acc or val_acc (mode='max')"


def _require():
    try:
        import torch
    except ImportError:
        raise ConfigError("objectives.torch needs PyTorch: pip install torch.") from None
    return torch


class _TensorBatches:
    """Mini-batches of an (inputs, targets) pair of tensors, cut where the model trains: on a GPU the tensors move
    there once (when they take at most a quarter of its free memory; else each batch moves), and each batch is an
    index into them. Same batches, in the same order, as ``DataLoader(TensorDataset(X, y), batch_size, shuffle,
    generator)`` yields, without copying every sample through the CPU and across the bus at every step."""

    def __init__(self, X, y, batch_size: int, shuffle: bool, seed: int, device) -> None:
        torch = _require()
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            if X.nbytes + y.nbytes <= free // 4:
                X, y = X.to(device), y.to(device)
        self.X, self.y = X, y
        self.generator = torch.Generator().manual_seed(seed) if shuffle else None
        self.index = torch.utils.data.DataLoader(range(len(X)), batch_size=batch_size, shuffle=shuffle,
                                                 generator=self.generator)

    def __iter__(self):
        for idx in self.index:
            idx = idx.to(self.X.device)
            yield self.X[idx], self.y[idx]


def _loader(data, batch_size: int, shuffle: bool, seed: int, device):
    torch = _require()
    if isinstance(data, torch.utils.data.DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = (d if isinstance(d, torch.Tensor) else torch.as_tensor(d) for d in data)
        if len(X) != len(y):
            raise ConfigError(f"inputs and targets must have the same length, but got {len(X)} and {len(y)}.")
        return _TensorBatches(X, y, batch_size, shuffle, seed, device)
    raise ConfigError(f"data must be a DataLoader or an (inputs, targets) pair, but got {type(data).__name__}.")


def torch_objective(model_fn: Callable[[dict[str, Any]], Any], train, valid, *, loss_fn=None,
                    optimizer_fn: Callable[[Any, dict[str, Any]], Any] | None = None, epochs: int = 10,
                    metric: str | None = None, checkpoint_dir: str | None = None, seed: int = 0,
                    lr_schedule: str | Callable[[Any, dict[str, Any], int], Any] = "constant",
                    on_epoch_end: Callable[[int, Any], None] | None = None, checkpoint_every: Any = "30s"):
    """Build ``objective(config, trial)``; it returns ``{"val_loss", "accuracy", "epochs", "resumed_from",
    "epochs_trained", "device", "device_name"}`` and the metric it reports.

    It reports the study's metric every epoch -- the validation loss (study ``metric="val_loss"`` or ``"loss"``,
    ``mode="min"``) or accuracy (``metric="accuracy"``, ``"val_accuracy"``, ``"acc"`` or ``"val_acc"``,
    ``mode="max"``) -- and keeps the epoch that is best by it. ``metric=`` names it here too (it must then be the
    study's metric); a study whose metric or mode the objective cannot report is refused before its first trial.
    ``device`` is where the trial trained (``cuda:0`` or ``cpu``: a trial given a GPU that PyTorch
    cannot use trains on the CPU, and says so), ``device_name`` the GPU's name or ``cpu``.

    ``optimizer_fn(parameters, config)`` defaults to Adam with ``config["lr"]`` and ``config["weight_decay"]``;
    ``loss_fn`` to cross-entropy; the batch size comes from ``config["batch_size"]`` (default 64) when the data are
    tensors.

    ``lr_schedule`` sets the learning rate per epoch: ``"constant"``, ``"cosine"`` (annealed to zero over ``epochs``:
    the last epochs take small steps, so a trial's score is its converged model's rather than a lucky epoch of a
    noisy one, which also makes trials easier to rank), or ``fn(optimizer, config, epochs)`` returning a PyTorch LR
    scheduler, stepped once per epoch and checkpointed with the model.

    ``checkpoint_every`` sets how often the state is written to disk: ``"30s"`` (the default; any duration, e.g.
    ``"2m"``, or a number of seconds) writes after the first epoch that ends that long after the last write,
    ``"3 epochs"`` every third epoch, ``"1 epoch"`` or ``0`` after each one. A pause (halving) always writes first.
    Short epochs then cost no disk writes; a trial interrupted between writes resumes from the last one and trains
    the epochs since again, exactly as they were (the random state is in the checkpoint).
    """
    torch = _require()
    if metric is not None and metric not in METRICS:
        raise ConfigError(f"metric must be one of {', '.join(METRICS)} (or left out: the study's metric), but got "
                          f"{metric!r}.")
    rule = MetricRule("torch_objective", "metric", metric, METRICS.get, _COMPUTES, "val_loss",
                      returns=lambda name: ("val_loss", "accuracy", "epochs", "resumed_from", "epochs_trained"))
    if not callable(lr_schedule) and lr_schedule not in ("constant", "cosine"):
        raise ConfigError(f"lr_schedule must be 'constant', 'cosine' or fn(optimizer, config, epochs), but got "
                          f"{lr_schedule!r}.")
    if epochs < 1:
        raise ConfigError(f"epochs must be >= 1, but got {epochs!r}.")
    every_epochs, every_seconds = _cadence(checkpoint_every)
    loss_fn = loss_fn or torch.nn.CrossEntropyLoss()

    def default_optimizer(params, config):
        return torch.optim.Adam(params, lr=config.get("lr", 1e-3), weight_decay=config.get("weight_decay", 0.0))

    make_optimizer = optimizer_fn or default_optimizer

    def evaluate(model, loader, device):
        model.eval()
        total = torch.zeros((), dtype=torch.float64, device=device)  # summed on the device: one sync per epoch
        correct = torch.zeros((), dtype=torch.int64, device=device)
        n = 0
        with torch.no_grad():
            for xb, yb in loader:
                xb, yb = xb.to(device), yb.to(device)
                out = model(xb)
                total += loss_fn(out, yb).double() * len(yb)
                if out.dim() == 2 and yb.dim() == 1:
                    correct += (out.argmax(1) == yb).sum()
                n += len(yb)
        return float(total) / n, int(correct) / n

    def checkpoint_path(study_name: str, config: dict[str, Any]) -> str:
        return _checkpoints.checkpoint_path(checkpoint_dir, study_name, config, ".pt")

    def forget(study_name: str, config: dict[str, Any]) -> None:
        """The halving pruner pruned a paused trial: its checkpoint will not be continued."""
        _checkpoints.remove(checkpoint_path(study_name, config))

    def objective(config, trial):
        name = rule.for_trial(trial)  # the metric reported, and the one the best epoch is chosen by
        lower = METRICS[name] == "min"
        torch.manual_seed(seed)
        device = torch.device(trial.device if trial.device.startswith("cuda") and torch.cuda.is_available()
                              else "cpu")
        batch = int(config.get("batch_size", 64))
        train_loader = _loader(train, batch, True, seed, device)
        valid_loader = _loader(valid, 1024, False, seed, device)
        model = model_fn(config).to(device)
        optimizer = make_optimizer(model.parameters(), config)
        if lr_schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        elif callable(lr_schedule):
            scheduler = lr_schedule(optimizer, config, epochs)
            if not all(hasattr(scheduler, m) for m in ("step", "state_dict", "load_state_dict")):
                raise TypeError(f"lr_schedule(optimizer, config, epochs) must return a PyTorch LR scheduler (with "
                                f"step, state_dict and load_state_dict), but returned {scheduler!r}.")
        else:
            scheduler = None
        path = checkpoint_path(trial.study_name, config)
        _checkpoints.warn_missing(trial, path)
        start, best, history = 0, None, []
        if os.path.exists(path):  # an earlier attempt of this configuration was interrupted: continue it
            state = torch.load(path, map_location=device, weights_only=True)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None and state.get("scheduler") is not None:
                scheduler.load_state_dict(state["scheduler"])
            start, best = int(state["epoch"]) + 1, state["best"]
            # the values of the epochs checkpointed (None where a checkpoint of an earlier autotune kept none)
            history = list(state.get("history") or [None] * start)
            _set_rng(state.get("rng"), train_loader, device)
        resumed_from = start
        written = (start - 1, time.monotonic())  # the epoch on disk, and when it was written

        def write(epoch: int) -> None:
            nonlocal written
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = _checkpoints.scratch(path)
            torch.save({"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": None if scheduler is None else scheduler.state_dict(), "best": best,
                        "rng": _get_rng(train_loader, device), "history": history[:epoch + 1]}, tmp)
            os.replace(tmp, path)  # a crash mid-write never leaves a torn checkpoint
            written = (epoch, time.monotonic())

        try:
            _checkpoints.report_unreported(trial, list(enumerate(history)))
            for epoch in range(start, epochs):
                model.train()
                for xb, yb in train_loader:
                    xb, yb = xb.to(device), yb.to(device)
                    optimizer.zero_grad()
                    loss_fn(model(xb), yb).backward()
                    optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                val_loss, acc = evaluate(model, valid_loader, device)
                value = val_loss if lower else acc
                improved = best is None or (value < best["value"] if lower else value > best["value"])
                if improved:  # kept where it trains (a copy on the GPU costs no trip to the host)
                    best = {"value": value, "val_loss": val_loss, "accuracy": acc, "epoch": epoch,
                            "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
                history.append(float(value))
                last = epoch == epochs - 1  # (the trial ends: nothing to resume)
                if not last and (epoch - written[0] >= every_epochs if every_epochs else
                                 time.monotonic() - written[1] >= every_seconds):
                    write(epoch)
                if on_epoch_end is not None:
                    on_epoch_end(epoch, trial)
                try:
                    trial.report(value, step=epoch)
                except TrialPaused:  # to be continued from here: the state goes to disk first
                    if written[0] != epoch:
                        write(epoch)
                    raise
        except TrialPruned:  # pruned: the checkpoint goes; paused (TrialPaused): it stays, to be continued
            _checkpoints.remove(path)
            raise
        buf = io.BytesIO()
        torch.save({k: v.cpu() for k, v in best["state"].items()}, buf)
        trial.save_artifact("model.pt", buf.getvalue())
        _checkpoints.remove(path)
        return {name: best["value"], "val_loss": best["val_loss"], "accuracy": best["accuracy"], "epochs": epochs,
                "resumed_from": resumed_from, "epochs_trained": epochs - resumed_from, "device": str(device),
                "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}

    return ready(objective, metric_rule=rule, artifact="model.pt", forget=forget)


def _cadence(every: Any) -> tuple[int, float]:
    """``checkpoint_every`` as ``(epochs, seconds)``, one of them 0: ``"3 epochs"`` -> (3, 0), ``"30s"`` -> (0, 30)."""
    from autotune._checks import parse_duration

    text = str(every).strip().lower()
    if every == 0 or text in ("0", "0s"):
        return 1, 0.0
    if text.endswith(("epochs", "epoch")):
        count = text.rstrip("s").removesuffix("epoch").strip()
        if count.isdigit() and int(count) >= 1:
            return int(count), 0.0
    else:
        try:
            return 0, float(parse_duration(every, "checkpoint_every"))
        except ConfigError:
            pass
    raise ConfigError(f"checkpoint_every must be a duration (30, '30s', '2m'), a count of epochs ('3 epochs') or 0 "
                      f"(every epoch), but got {every!r}.")


def _get_rng(loader, device) -> dict[str, Any]:
    """The random state the next epochs draw from (dropout, the shuffling of batches): saved with each checkpoint
    so that a continued trial trains exactly as an uninterrupted one."""
    torch = _require()
    generator = getattr(loader, "generator", None)  # ours, or a DataLoader's given generator
    return {"torch": torch.get_rng_state(), "data": None if generator is None else generator.get_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _set_rng(rng: dict[str, Any] | None, loader, device) -> None:
    if not rng:  # a checkpoint written before the random state was saved
        return
    torch = _require()
    torch.set_rng_state(rng["torch"].cpu())
    generator = getattr(loader, "generator", None)
    if generator is not None and rng.get("data") is not None:
        generator.set_state(rng["data"].cpu())
    if device.type == "cuda" and rng.get("cuda") is not None:
        torch.cuda.set_rng_state(rng["cuda"].cpu(), device)


