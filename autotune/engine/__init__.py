"""The study engine: runs a study's trials on a backend, with the database as the source of truth.

``Engine`` (``_loop``) wires parts with one job each: the sampler's mirror of the study (``_mirror``), this driver's
trials in the database (``_ledger``), the halving coordinator (``_halving``), the heartbeat lease (``_heartbeat``),
constraints (``_constraints``), the failure watch (``_failures``), Ctrl-C (``_interrupts``), the callbacks
(``_callbacks``) and the configurations a run starts from (``_seeds``).
"""

from autotune.engine._loop import Engine
from autotune.engine._running import RunReport

__all__ = ["Engine", "RunReport"]
