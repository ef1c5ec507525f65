"""Backends run trials: ``local`` (in-process or worker processes) and ``ray`` (actors on a Ray cluster)."""

from autotune.backends._base import Backend, Handler, Job, ObjectiveRef
from autotune.backends.local import InProcessBackend, ProcessBackend, make_local_backend

BACKENDS = ("local", "ray")


def make_backend(study, name: str, parallelism: int, ray_address: str | None = None) -> Backend:
    if name == "ray":
        from autotune.backends.ray import RayBackend

        return RayBackend(study, parallelism, address=ray_address)
    return make_local_backend(study, parallelism)

__all__ = ["BACKENDS", "Backend", "Handler", "InProcessBackend", "Job", "ObjectiveRef", "ProcessBackend",
           "make_backend", "make_local_backend"]
