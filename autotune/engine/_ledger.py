"""This driver's trials in the study database: claim, report, pause, finish, retry, and leave nothing behind.

Every write that changes who holds a trial goes through here; the counters the last write returned (``Peek``) are
kept, which saves a read per trial."""

from __future__ import annotations

from typing import Any

from autotune.database import TrialState


class Ledger:
    def __init__(self, db, study_id: int, driver: str, n_trials: int, *, keep_artifacts: int, mode: str,
                 stale_after: float) -> None:
        self.db, self.study_id, self.driver, self.n_trials = db, study_id, driver, n_trials
        self.keep_artifacts, self.mode, self.stale_after = keep_artifacts, mode, stale_after
        self.snapshot = None  # the study's counters as the last write returned them

    def peek(self):
        """The study's counters: those the last write returned (once), else read."""
        peek, self.snapshot = self.snapshot or self.db.peek(self.study_id), None
        return peek

    def claim_waiting(self, *, not_retry_of=frozenset(), retry_of: int | None = None) -> dict[str, Any] | None:
        """Start the oldest queued trial (with ``retry_of``: the one queued again from that trial only; never one
        queued again from a trial in ``not_retry_of``), unless the budget is taken."""
        return self.db.claim_waiting(self.study_id, self.driver, self.n_trials, retry_of=retry_of,
                                     not_retry_of=not_retry_of)

    def claim_new(self, params: dict[str, Any], origin: str, unique: bool = False) -> int | None:
        """Start a trial with proposed ``params``: its number; None when the budget is taken, -1 when ``unique``
        and another trial holds these params."""
        number, self.snapshot = self.db.claim_new(self.study_id, self.driver, self.n_trials, params, origin,
                                                  unique=unique)
        return number

    def save_reports(self, pending: dict[int, list[list[float]]]) -> None:
        self.db.save_intermediate(self.study_id, pending)

    def pause(self, number: int, intermediate: list[list[float]] | None) -> bool:
        return self.db.pause(self.study_id, number, self.driver, intermediate)

    def finish(self, number: int, state: str, outcome, *, values, intermediate, artifacts,
               requeue: str | None = None) -> tuple[int, int | None]:
        """Record how a trial ended: ``(finish_seq, requeued number)``; finish_seq -1: the trial was taken over as
        stale meanwhile. ``requeue`` (a reason): fail it and queue its configuration again."""
        seq, requeued, self.snapshot = self.db.finish(
            self.study_id, number, state, self.driver, values=values, metrics=outcome.metrics,
            intermediate=intermediate or None, error=outcome.error, tb=outcome.traceback, requeue=requeue,
            artifacts=artifacts, keep_artifacts=self.keep_artifacts, mode=self.mode)
        return seq, requeued

    def keep_as_requeued(self, number: int, state: str, outcome, *, values, intermediate,
                         artifacts) -> tuple[int, int] | None:
        """A trial that ended after another driver took it over as stale: its configuration was queued again.
        While that queued trial waits, this result is recorded as it (no configuration runs twice): returns
        ``(number kept as, finish_seq)``; None when the queued trial has started elsewhere or the budget is full.
        ``artifacts``: what to record, or a function of the number it is kept as (an external store's files are
        named after it)."""
        claimed = self.claim_waiting(retry_of=number)
        if claimed is None:
            return None
        if callable(artifacts):
            artifacts = artifacts(claimed["number"])
        seq, _ = self.finish(claimed["number"], state, outcome, values=values, intermediate=intermediate,
                             artifacts=artifacts)
        return (claimed["number"], seq) if seq >= 0 else None

    def fail_stale(self) -> None:
        self.db.fail_stale(self.study_id, self.stale_after, self.driver)

    def abandon(self, cut_short: dict[int, list[list[float]]], requeue_reason: str | None, *, created: bool,
                queued_here: list[int]) -> None:
        """Leave nothing of this driver RUNNING. ``cut_short``: trials that keep their reports (and checkpoints) as
        PAUSED, to continue when the study is resumed. ``requeue_reason`` (Ctrl-C): the others are queued again;
        None (an aborted run): released, and what this run queued taken back."""
        for number, intermediate in cut_short.items():
            self.db.pause(self.study_id, number, self.driver, intermediate)
        if requeue_reason is not None:
            self.db.requeue_owned(self.study_id, self.driver, requeue_reason)
            return
        self.db.release_owned(self.study_id, self.driver)
        if queued_here:  # an aborted run leaves an existing study as it found it
            self.db.unqueue(self.study_id, queued_here)
        # a study this run created and an aborted first trial: nothing but its own queue is left (the enqueued and
        # warm-start configurations), and the study goes with it
        if (created and all(t.state == TrialState.WAITING for t in self.db.all_trials(self.study_id))
                and not self.db.other_drivers(self.study_id, self.driver, self.stale_after)):
            self.db.delete_study(self.study_id)  # (a driver that joined meanwhile keeps the study and its queue)

    def close(self) -> None:
        try:
            self.db.unregister_driver(self.driver)
        except Exception:  # noqa: BLE001 - a stale driver row is harmless: its trials are all finished
            pass
