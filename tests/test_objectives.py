"""Ready objectives and spaces: each example runs, its best model is exported and used by a fresh process; an
interrupted PyTorch trial resumes from its last checkpoint."""

import json
import os
import subprocess
import sys

import pytest

import autotune as at
from tests.conftest import ROOT, cli, trial_rows, write_study

LOADERS = {
    "lightgbm_breast_cancer": """
import lightgbm, sys
from sklearn.datasets import load_breast_cancer
X, y = load_breast_cancer(return_X_y=True)
booster = lightgbm.Booster(model_file=sys.argv[1] + "/model.txt")
acc = ((booster.predict(X) > 0.5) == y).mean()
print(acc)
""",
    "torch_mlp_digits": """
import json, sys, torch
sys.path.insert(0, sys.argv[2])
from sklearn.datasets import load_digits
import torch_mlp_digits as ex
params = json.loads(sys.argv[3])
model = ex.make_model(params)
model.load_state_dict(torch.load(sys.argv[1] + "/model.pt", weights_only=True))
model.eval()
X, y = load_digits(return_X_y=True)
pred = model(torch.tensor(X / 16.0, dtype=torch.float32)).argmax(1).numpy()
print((pred == y).mean())
""",
    "sklearn_svm": """
import pickle, sys
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
model = pickle.load(open(sys.argv[1] + "/model.pkl", "rb"))  # our own export: we trust it
print((model.predict(X / 16.0) == y).mean())
""",
    "sklearn_random_forest": """
import pickle, sys
from sklearn.datasets import load_wine
X, y = load_wine(return_X_y=True)
model = pickle.load(open(sys.argv[1] + "/model.pkl", "rb"))
print((model.predict(X) == y).mean())
""",
}


@pytest.mark.parametrize("example", sorted(LOADERS))
def test_each_example_exports_a_model_a_fresh_process_can_use(example, tmp_path):
    path = os.path.join(ROOT, "examples", f"{example}.py")
    r = cli("run", path, "--n-trials", "6", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "model"
    best = json.loads(cli("best", example, "--json", "--export", out, cwd=tmp_path).stdout)
    assert best["exported"]
    loader = tmp_path / "load.py"
    loader.write_text(LOADERS[example])
    env = {**os.environ, "PYTHONPATH": ROOT}  # the example imports autotune, installed or not
    fresh = subprocess.run([sys.executable, str(loader), str(out), os.path.join(ROOT, "examples"),
                            json.dumps(best["params"])], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env=env)
    assert fresh.returncode == 0, fresh.stderr
    assert float(fresh.stdout.strip().splitlines()[-1]) > 0.8  # the exported model really predicts


def test_ready_spaces_are_overridden_key_by_key():
    space = at.spaces.lightgbm(num_leaves=at.randint(4, 64), lambda_l1=None, max_bin=63)
    assert space["num_leaves"] == at.randint(4, 64) and "lambda_l1" not in space
    assert space["max_bin"] == at.fixed(63) and space["learning_rate"] == at.loguniform(0.01, 0.3)
    for ready in (at.spaces.mlp, at.spaces.svm, at.spaces.random_forest, at.spaces.knn,
                  at.spaces.logistic_regression):
        at.Space(ready())  # each is a valid space


RESUME = """
import os, signal, torch
from autotune.objectives.torch import torch_objective

torch.manual_seed(0)
X = torch.randn(200, 8)
y = (X[:, 0] > 0).long()

def kill_once(epoch, trial):
    if epoch == 3 and not os.path.exists("killed"):
        open("killed", "w").close()
        os.kill(os.getpid(), signal.SIGKILL)  # the driver dies mid-training (parallelism 1: in-process)

study = at.Study(name="resume", space={"lr": at.fixed(0.01), "batch_size": at.fixed(32)},
                 objective=torch_objective(lambda c: torch.nn.Linear(8, 2), (X[:150], y[:150]), (X[150:], y[150:]),
                                           epochs=8, on_epoch_end=kill_once, checkpoint_every="1 epoch"),
                 metric="val_loss", n_trials=1)
"""


def test_a_killed_torch_trial_resumes_from_its_last_checkpoint(tmp_path, sqlite_url):
    write_study(tmp_path, RESUME)
    first = cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path)
    assert first.returncode == -9 and (tmp_path / "killed").exists()
    second = cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    result = at.load_study("resume", storage=sqlite_url)
    done = [t for t in result.trials if t.state == "COMPLETE"]
    assert len(done) == 1
    assert done[0].metrics["resumed_from"] == 4  # epochs 0-3 were checkpointed before the kill
    assert done[0].metrics["epochs_trained"] == 4  # only epochs 4-7 were trained again
    assert [s for s, _ in done[0].intermediate] == list(range(8))  # the checkpointed epochs reported again
    assert [r.state for r in trial_rows(sqlite_url)] == ["FAIL", "COMPLETE"]
    assert not os.listdir(tmp_path / ".autotune" / "checkpoints" / "resume")  # removed once finished


def test_a_torch_trial_killed_between_checkpoints_resumes_from_the_last_and_ends_with_the_same_weights(
        tmp_path, sqlite_url):
    """Checkpoints every third epoch (lean: short epochs write nothing in between); killed after epoch 4, the trial
    resumes from epoch 2's checkpoint and trains epochs 3-7 again, to the very weights of an uninterrupted run."""
    import torch

    body = (RESUME.replace('checkpoint_every="1 epoch"', 'checkpoint_every="3 epochs"')
            .replace("epoch == 3 and", "epoch == 4 and").replace("torch.nn.Linear(8, 2)", "torch.nn.Sequential("
                     "torch.nn.Linear(8, 16), torch.nn.Dropout(0.3), torch.nn.ReLU(), torch.nn.Linear(16, 2))"))
    write_study(tmp_path, body)
    write_study(tmp_path, body.replace('name="resume"', 'name="whole"').replace("on_epoch_end=kill_once, ", ""),
                "whole.py")
    assert cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path).returncode == -9
    assert cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path).returncode == 0
    assert cli("run", "whole.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path).returncode == 0
    resumed, whole = (at.load_study(name, storage=sqlite_url) for name in ("resume", "whole"))
    assert resumed.best_trial.metrics["resumed_from"] == 3 and resumed.best_trial.metrics["epochs_trained"] == 5
    assert resumed.best_trial.intermediate == whole.best_trial.intermediate  # every epoch's loss, to the bit
    a, b = (torch.load(r.best_artifact("model.pt"), weights_only=True) for r in (resumed, whole))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_gpu_flag_gives_torch_trials_a_device_and_they_report_where_they_trained(tmp_path, sqlite_url):
    """`--gpu 1` runs the same study file's trials in workers pinned to one GPU each (``trial.device`` is
    ``cuda:0``); the objective reports the device it really trained on -- here, with a GPU id but no CUDA, the CPU."""
    import torch

    write_study(tmp_path, RESUME.replace("on_epoch_end=kill_once", "epochs=2").replace("epochs=8, ", ""))
    r = cli("run", "study.py", "--storage", sqlite_url, "--quiet", "--gpu", "1", cwd=tmp_path,
            env={"AUTOTUNE_GPUS": "0"})
    assert r.returncode == 0, r.stderr
    (trial,) = at.load_study("resume", storage=sqlite_url).trials
    cuda = torch.cuda.is_available()
    assert trial.metrics["device"] == ("cuda:0" if cuda else "cpu")
    assert trial.metrics["device_name"] == (torch.cuda.get_device_name(0) if cuda else "cpu")


COSINE = """
import json, os, signal, torch
from autotune.objectives.torch import torch_objective

torch.manual_seed(0)
X = torch.randn(200, 8)
y = (X[:, 0] > 0).long()
made = []

def adam(params, config):
    made.append(torch.optim.Adam(params, lr=0.1))
    return made[-1]

def log_lr(epoch, trial):
    with open("lrs.jsonl", "a") as fh:
        fh.write(json.dumps([epoch, made[-1].param_groups[0]["lr"]]) + "\\n")
    if epoch == 2 and not os.path.exists("killed"):
        open("killed", "w").close()
        os.kill(os.getpid(), signal.SIGKILL)

study = at.Study(name="cosine", space={"batch_size": at.fixed(32)},
                 objective=torch_objective(lambda c: torch.nn.Linear(8, 2), (X[:150], y[:150]), (X[150:], y[150:]),
                                           epochs=6, optimizer_fn=adam, lr_schedule="cosine", on_epoch_end=log_lr,
                                           checkpoint_every=0),
                 metric="val_loss", n_trials=1)
"""


def test_a_resumed_trial_continues_its_learning_rate_schedule(tmp_path, sqlite_url):
    import math

    write_study(tmp_path, COSINE)
    assert cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path).returncode == -9
    second = cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    logged = [json.loads(line) for line in (tmp_path / "lrs.jsonl").read_text().splitlines()]
    assert [e for e, _ in logged] == [0, 1, 2, 3, 4, 5]  # epochs 0-2 before the kill, 3-5 after
    expected = [0.1 * (1 + math.cos(math.pi * (e + 1) / 6)) / 2 for e in range(6)]  # annealed to 0 at epoch 5
    assert [lr for _, lr in logged] == pytest.approx(expected, abs=1e-12)


def test_a_schedule_factory_that_returns_no_scheduler_fails_the_trial_with_a_clear_message():
    import types

    import torch

    from autotune.objectives.torch import torch_objective

    X, y = torch.randn(20, 4), torch.zeros(20, dtype=torch.long)
    objective = torch_objective(lambda c: torch.nn.Linear(4, 2), (X, y), (X, y), epochs=1,
                                lr_schedule=lambda optimizer, config, epochs: None)
    trial = types.SimpleNamespace(device="cpu", study_name="s", report=lambda *a, **k: None,
                                  save_artifact=lambda *a: None)
    with pytest.raises(TypeError, match=r"lr_schedule\(optimizer, config, epochs\) must return a PyTorch LR "
                                        r"scheduler .* but returned None"):
        objective({"lr": 0.01}, trial)


def _devices() -> list[str]:
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # the GPU case where there is one


@pytest.mark.parametrize("device", _devices())
@pytest.mark.parametrize("shuffle", [True, False])
def test_tensor_batches_are_the_batches_a_dataloader_gives(shuffle, device):
    """The torch objective cuts batches by index (on the GPU when the data fit there): the same batches, in the
    same order, epoch after epoch, as a DataLoader over a TensorDataset with the same seed -- so a study's results
    do not depend on the device's batching."""
    import torch

    from autotune.objectives.torch import _TensorBatches

    X, y = torch.randn(103, 3), torch.arange(103)
    ours = _TensorBatches(X, y, 16, shuffle, 7, torch.device(device))
    assert ours.X.device.type == device  # on a GPU the data moved there once
    theirs = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=16, shuffle=shuffle,
                                         generator=torch.Generator().manual_seed(7) if shuffle else None)
    for _ in range(3):
        a, b = [(xb.cpu(), yb.cpu()) for xb, yb in ours], list(theirs)
        assert len(a) == len(b) == 7
        assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b, strict=True))
    order = [i for _, yb in ours for i in yb.tolist()]
    assert sorted(order) == list(range(103)) and (order != list(range(103))) == shuffle


def test_a_torch_checkpoint_without_a_history_resumes_and_reports_only_what_it_trains(tmp_path, monkeypatch):
    # a checkpoint written before checkpoints kept the epochs' values: the resumed trial cannot report the
    # checkpointed epochs again, and must not report anything at the wrong step
    import torch

    from autotune.errors import TrialPaused
    from autotune.objectives.torch import torch_objective

    monkeypatch.chdir(tmp_path)
    X = torch.randn(60, 4)
    y = (X[:, 0] > 0).long()
    objective = torch_objective(lambda c: torch.nn.Linear(4, 2), (X[:40], y[:40]), (X[40:], y[40:]), epochs=6)

    class Trial:
        study_name, device, number = "old", "cpu", 0

        def __init__(self, pause_at=None):
            self.reports, self.seen, self.pause_at = [], [], pause_at

        def report(self, value, step):
            self.seen.append(step)
            if step == self.pause_at:
                raise TrialPaused("paused")

        def save_artifact(self, name, data):
            pass

    config = {"lr": 0.01, "batch_size": 16}
    with pytest.raises(TrialPaused):
        objective(config, Trial(pause_at=2))
    [path] = [p for p in (tmp_path / ".autotune" / "checkpoints" / "old").iterdir() if p.suffix == ".pt"]
    state = torch.load(path, weights_only=True)
    assert state["history"] and len(state["history"]) == 3
    del state["history"]
    torch.save(state, path)
    resumed = Trial(pause_at=4)
    with pytest.raises(TrialPaused):
        objective(config, resumed)
    assert resumed.seen == [3, 4]
    again = Trial()  # e.g. queued again after a crash: it reports what the checkpoint knows, at the right epochs
    result = objective(config, again)
    assert again.seen == [3, 4, 5] and result["resumed_from"] == 5


def test_a_continued_sklearn_trial_with_more_reports_than_folds_starts_over():
    # reported under a study file with 5 folds, continued under one with 3: the old fold scores are not these folds
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from autotune.objectives.sklearn import sklearn_objective

    X, y = load_iris(return_X_y=True)
    objective = sklearn_objective(LogisticRegression(max_iter=200), X, y, cv=3, save_model=False)

    class Trial:
        def __init__(self, reports):
            self.reports, self.seen = reports, []

        def report(self, value, step):
            self.seen.append(step)

    fresh, continued = Trial([]), Trial([[k, 0.1] for k in range(5)])
    assert objective({"C": 1.0}, continued) == objective({"C": 1.0}, fresh)
    assert continued.seen == fresh.seen == [0, 1, 2]


@pytest.mark.parametrize("kind", ["torch", "lightgbm"])
def test_a_continued_trial_without_its_checkpoint_says_it_starts_over(tmp_path, monkeypatch, kind):
    import warnings

    monkeypatch.chdir(tmp_path)
    if kind == "torch":
        import torch

        from autotune.objectives.torch import torch_objective

        X = torch.randn(40, 4)
        y = (X[:, 0] > 0).long()
        objective = torch_objective(lambda c: torch.nn.Linear(4, 2), (X[:30], y[:30]), (X[30:], y[30:]), epochs=2)
        config = {"lr": 0.01, "batch_size": 16}
    else:
        from sklearn.datasets import load_breast_cancer

        from autotune.objectives.lightgbm import lightgbm_objective

        objective = lightgbm_objective(*load_breast_cancer(return_X_y=True), folds=3, num_boost_round=10)
        config = {"num_leaves": 7}

    class Trial:
        study_name, device, number = "elsewhere", "cpu", 3

        def __init__(self, reports):
            self.reports = reports

        def report(self, value, step):
            pass

        def save_artifact(self, name, data):
            pass

    with pytest.warns(UserWarning, match="trial 3 continues after 1 reports, but its checkpoint .* is missing"):
        objective(config, Trial([[0, 0.5]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a first run, or a crashed trial queued again: nothing to say
        objective(config, Trial([]))
