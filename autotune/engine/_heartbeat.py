"""The driver's lease: a thread that beats every few seconds, so that other drivers see this one alive and leave
its running trials alone."""

from __future__ import annotations

import logging
import threading
import time

_log = logging.getLogger("autotune")


def beat_interval(stale_after: float) -> float:
    """Seconds between beats: a sixth of the grace period, from 0.5 to 10."""
    return max(0.5, min(10.0, stale_after / 6))


class Heartbeat:
    """Beats for ``driver`` on study ``study_id`` every ``every`` seconds from :meth:`start` to :meth:`stop`."""

    def __init__(self, db, driver: str, study_id: int, *, every: float, stale_after: float, study_name: str) -> None:
        self.db, self.driver, self.study_id = db, driver, study_id
        self.every, self.stale_after, self.study_name = every, stale_after, study_name
        self.last = time.time()  # wall time: a process stopped or suspended sees it move on
        self._stop, self._lock = threading.Event(), threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="autotune-heartbeat", daemon=True)

    def start(self) -> None:
        self.last = time.time()
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - a missed beat is retried; the grace period absorbs a few
                pass

    def beat(self) -> None:
        """Beat (the thread's job; the run loop's too, before it claims a trial after a long silence: a process
        paused past ``stale_after`` must be registered again first). One beat at a time; none registers the driver
        again once stopped."""
        with self._lock:
            if self._stop.is_set():
                return
            before = self.last
            again = self.db.heartbeat(self.driver, self.study_id)
            self.last = time.time()
        if again:
            _log.warning(f"study {self.study_name!r}: this driver was silent for {time.time() - before:.0f} s "
                         f"(paused, suspended or swapping) beyond stale_after={self.stale_after:g} s, and "
                         "another driver took its running trials over; it registered again and goes on.")

    def beat_if_overdue(self) -> None:
        if time.time() - self.last > 2 * self.every + 1:
            self.beat()  # silent for long (this process was paused?): registered again before claiming

    def stop(self) -> None:
        with self._lock:  # a beat under way ends first; none follows
            self._stop.set()
