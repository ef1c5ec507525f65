"""Ctrl-C during a run: raised inside an in-process objective at once, elsewhere at the loop's next safe point
(never inside a database call: drivers turn an interrupted query into an unrelated error)."""

from __future__ import annotations

import contextlib
import signal
import threading


class Interrupts:
    def __init__(self) -> None:
        self.asked = False  # Ctrl-C was pressed
        self.in_objective = False  # an in-process objective is running: interrupt it at once

    def on_sigint(self, signum, frame) -> None:
        self.asked = True
        if self.in_objective:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def objective_running(self, running: bool = True):
        """Backends that run the objective in this process mark it, so that Ctrl-C interrupts the objective but
        never a database call."""
        before, self.in_objective = self.in_objective, running
        try:
            if running and self.asked:
                raise KeyboardInterrupt
            yield
        finally:
            self.in_objective = before

    def check(self) -> None:
        """Raise KeyboardInterrupt where Ctrl-C was pressed since the run began."""
        if self.asked:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self):
        """Handle SIGINT here while the block runs (on the main thread; elsewhere Python delivers no signal)."""
        self.asked = self.in_objective = False
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, self.on_sigint) if main else None
        try:
            yield self
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)
