"""The live progress line a terminal shows: trials done, the best, what runs, and a remaining time that holds."""

import io
from types import SimpleNamespace

from autotune import _progress
from autotune._progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_eta_is_the_wall_time_per_finished_trial_times_those_left(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(_progress.time, "monotonic", lambda: clock[0])
    screen = Terminal()
    progress = Progress("s", total=8, stream=screen)
    # four workers: after 8 s of wall time four trials are done, so the other four take about 8 s more
    engine = SimpleNamespace(counted_done=0, parallelism=4, best=None, jobs=[1, 2, 3, 4],
                             study=SimpleNamespace(modes=["min"]))
    for n in range(4):
        clock[0] += 2.0
        engine.counted_done += 1
        engine.best = (0.5 - n / 10, n)
        progress.trial_done(n, "COMPLETE", [0.5 - n / 10], None, engine)
    line = screen.getvalue().rsplit("\r\x1b[2K", 1)[-1]
    assert line == "[s] 4/8 done | best 0.2 (trial 3) | running 4 | 0:00:08 | ETA 0:00:08"


def test_a_paused_trial_is_not_counted_as_finished_for_the_eta(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(_progress.time, "monotonic", lambda: clock[0])
    screen = Terminal()
    progress = Progress("s", total=4, stream=screen)
    engine = SimpleNamespace(counted_done=0, parallelism=1, best=None, jobs=[], study=SimpleNamespace(modes=["max"]))
    clock[0] = 3.0
    progress.trial_done(0, "PAUSED", [0.9], None, engine)  # no trial finished yet: no estimate
    assert "ETA" not in screen.getvalue()
    clock[0] = 6.0
    engine.counted_done, engine.best = 1, (-0.9, 0)
    progress.trial_done(0, "COMPLETE", [0.9], None, engine)
    assert screen.getvalue().endswith("[s] 1/4 done | best 0.9 (trial 0) | running 0 | 0:00:06 | ETA 0:00:18")
