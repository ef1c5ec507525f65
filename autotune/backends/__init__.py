"""Backends run trials: ``local`` (in-process or worker processes); ``ray`` (Ray Tune) comes with its issue."""

from autotune.backends._base import Backend, Handler, Job, ObjectiveRef
from autotune.backends.local import InProcessBackend, ProcessBackend, make_local_backend

BACKENDS = ("local",)

__all__ = ["BACKENDS", "Backend", "Handler", "InProcessBackend", "Job", "ObjectiveRef", "ProcessBackend",
           "make_local_backend"]
