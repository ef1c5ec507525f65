"""The study's counted finished trials and best value, as this driver has seen them (for the progress line)."""

from __future__ import annotations

from autotune.database import FINISHED, TrialState


class Tally:
    """Counts each finished, counted trial once (whether this driver finished it or read it back) and keeps the
    best feasible value of a single-metric study as ``(key, number)``, key the value signed to be minimised."""

    def __init__(self, modes: list[str]) -> None:
        self.minimize, self.single = modes[0] == "min", len(modes) == 1
        self.counted_done = 0
        self.counted_numbers: set[int] = set()
        self.best: tuple[float, int] | None = None

    def count(self, state: str, counted: bool, value: float | None, number: int) -> None:
        if state in FINISHED and counted and number not in self.counted_numbers:
            self.counted_numbers.add(number)
            self.counted_done += 1
        if state == TrialState.COMPLETE and value is not None and self.single:
            key = value if self.minimize else -value
            if self.best is None or (key, number) < (self.best[0], self.best[1]):
                self.best = (key, number)
