"""``Study(callbacks=[...])`` during a run: called as it starts, after each trial this driver finished, and as it
ends (see ``autotune.callbacks``)."""

from __future__ import annotations


class RunCallbacks:
    def __init__(self, study, db) -> None:
        self.study, self.db = study, db
        self.callbacks: list = []
        self.failed: set = set()
        self.result = None

    def start(self) -> None:
        from autotune.callbacks import run_callbacks
        from autotune.result import Result

        self.callbacks = list(getattr(self.study, "callbacks", None) or [])
        if self.callbacks:
            self.result = Result(self.db, self.study.name, space=self.study.space)
            try:
                run_callbacks(self.callbacks, "on_run_start", self.result, failed=self.failed, strict=True)
            except BaseException:
                self.callbacks = []
                raise

    def trial(self, study_id: int, number: int) -> None:
        """A trial this driver finished, read back as stored (params: the config as the objective saw it)."""
        if not self.callbacks:
            return
        from autotune.callbacks import run_callbacks
        from autotune.result import TrialRecord

        row = self.db.trial(study_id, number)
        if row is not None:
            record = TrialRecord.from_row(row)
            record.params = self.result.config(record.params)
            run_callbacks(self.callbacks, "on_trial_end", self.study.name, record, failed=self.failed)

    def end(self, error: BaseException | None) -> None:
        if self.callbacks:
            from autotune.callbacks import run_callbacks

            run_callbacks(self.callbacks, "on_run_end", self.result, error, failed=self.failed)
