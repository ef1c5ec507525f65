"""Live progress of a run: one redrawn status line on a terminal, one plain line per finished trial otherwise."""

from __future__ import annotations

import sys
import time

from autotune.database import TrialState


def _fmt(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, name: str, total: int | None, stream=None) -> None:
        self.name, self.total = name, total
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.monotonic()
        self.done_here = 0
        self.last_draw = 0.0

    def _best(self, engine) -> str:
        if engine.best is None:
            return "best -"
        value = engine.best[0] if engine.study.modes[0] == "min" else -engine.best[0]
        return f"best {value:.6g} (trial {engine.best[1]})"

    def _line(self, engine) -> str:
        done = engine.counted_done
        total = f"/{self.total}" if self.total else ""
        eta = ""
        if self.total and self.done_here:
            # seconds of wall time per finished trial, with the trials running side by side as they do
            rate = (time.monotonic() - self.t0) / self.done_here
            eta = f" | ETA {_fmt(rate * max(0, self.total - done))}"
        return (f"[{self.name}] {done}{total} done | {self._best(engine)} | running {len(engine.jobs)}"
                f" | {_fmt(time.monotonic() - self.t0)}{eta}")

    def trial_done(self, number, state, values, error, engine) -> None:
        self.done_here += state != TrialState.PAUSED
        if self.tty:
            self.tick(engine, force=True)
            return
        if state == TrialState.COMPLETE:
            what = f"value {values[0]:.6g}" if len(values) == 1 else f"values {values}"
        elif state in (TrialState.PRUNED, TrialState.PAUSED):
            what = f"{state.lower()} at {values[0]:.6g}" if values else state.lower()
        else:
            what = error or state.lower()
        total = f"/{self.total}" if self.total else ""
        print(f"[{self.name}] trial {number} {state}: {what} | {engine.counted_done}{total} done | "
              f"{self._best(engine)}", file=self.stream, flush=True)

    def note(self, message: str) -> None:
        """A line of its own, above the status line on a terminal."""
        self.stream.write(("\r\x1b[2K" if self.tty else "") + f"[{self.name}] {message}\n")
        self.stream.flush()
        self.last_draw = 0.0

    def tick(self, engine, force: bool = False) -> None:
        now = time.monotonic()
        if not self.tty or (not force and now - self.last_draw < 0.2):
            return
        self.last_draw = now
        self.stream.write("\r\x1b[2K" + self._line(engine))
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
