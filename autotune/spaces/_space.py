"""A whole search space: named domains, conditional branches flattened into one ``config`` dict.

>>> from autotune.spaces import Space, uniform, choice
>>> space = Space({"x": uniform(0, 1), "opt": choice({"sgd": {"momentum": uniform(0, 0.9)}, "adam": {}})})
>>> sorted(space.param_names())
['momentum', 'opt', 'x']
"""

from __future__ import annotations

from typing import Any

from autotune.errors import SpaceError
from autotune.spaces._domains import Categorical, Conditional, Domain, Fixed


class Space:
    """An ordered mapping of parameter names to domains. Validated once, when built."""

    def __init__(self, domains: dict[str, Any], *, _nested: bool = False) -> None:
        if isinstance(domains, Space):
            domains = dict(domains.domains)
        if not isinstance(domains, dict):
            raise SpaceError(f"a space must be a dict of parameter names to domains, but got {domains!r}.")
        if not domains and not _nested:
            raise SpaceError("the space is empty; declare at least one parameter, e.g. {'x': at.uniform(0, 1)}.")
        for name, dom in domains.items():
            if not isinstance(name, str) or not name:
                raise SpaceError(f"parameter names must be non-empty strings, but got {name!r}.")
            if not isinstance(dom, Domain):
                raise SpaceError(f"parameter '{name}' must be a domain such as at.uniform(0, 1), at.choice([...]) "
                                 f"or at.fixed(value), but got {dom!r}; wrap constants in at.fixed().")
        self.domains: dict[str, Domain] = dict(domains)
        if not _nested:
            self._flat = self._flatten()

    # -- structure -----------------------------------------------------------------------------------------
    def _flatten(self) -> dict[str, Domain]:
        """Every parameter name reachable in any branch, checking that a name means one domain everywhere."""
        flat: dict[str, Domain] = {}

        def walk(space: Space, where: str) -> None:
            for name, dom in space.domains.items():
                if name in flat and flat[name] != dom:
                    raise SpaceError(f"parameter '{name}' is declared twice with different domains ({flat[name]!r} "
                                     f"and {dom!r}{where}); a name used in two branches must have the same domain.")
                if name in flat and isinstance(dom, Conditional):
                    raise SpaceError(f"the conditional parameter '{name}' is declared twice{where}; rename one.")
                flat[name] = dom
                if isinstance(dom, Conditional):
                    for branch, sub in dom.branches.items():
                        walk(sub, f" in branch '{name}={branch}'")

        walk(self, "")
        return flat

    def param_names(self) -> list[str]:
        """Names of every searched parameter (constants excluded), across all branches."""
        return [n for n, d in self._flat.items() if not isinstance(d, Fixed)]

    @property
    def is_conditional(self) -> bool:
        return any(isinstance(d, Conditional) for d in self._flat.values())

    def to_dict(self) -> dict[str, Any]:
        return {name: dom.to_dict() for name, dom in self.domains.items()}

    # -- sampling and conversion -------------------------------------------------------------------------
    def sample(self, otrial) -> tuple[dict[str, Any], dict[str, Any]]:
        """Ask an Optuna trial for every active parameter; returns ``(params, config)``.

        ``params`` hold what the sampler proposed (its encoding); ``config`` is what the objective receives.
        """
        params: dict[str, Any] = {}
        config: dict[str, Any] = {}

        def walk(space: Space) -> None:
            for name, dom in space.domains.items():
                if isinstance(dom, Fixed):
                    config[name] = dom.value
                    continue
                value = dom.suggest(otrial, name)
                params[name] = value
                if isinstance(dom, Conditional):
                    config[name] = value
                    walk(dom.branches[value])
                elif isinstance(dom, Categorical):
                    config[name] = dom.decode(value)
                else:
                    config[name] = value

        walk(self)
        return params, config

    def config_from_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """The objective's ``config`` for stored ``params`` (decoding indices, adding constants)."""
        config: dict[str, Any] = {}

        def walk(space: Space) -> None:
            for name, dom in space.domains.items():
                if isinstance(dom, Fixed):
                    config[name] = dom.value
                elif isinstance(dom, Conditional):
                    config[name] = params[name]
                    walk(dom.branches[params[name]])
                elif isinstance(dom, Categorical):
                    config[name] = dom.decode(params[name])
                else:
                    config[name] = params[name]

        walk(self)
        return config

    def check_config(self, config: dict[str, Any], what: str = "configuration") -> None:
        """Refuse a configuration that misses an active parameter, has an unknown one, or a value outside its
        domain; the message names the parameter, the value and the domain."""
        if not isinstance(config, dict):
            raise SpaceError(f"{what} must be a dict of parameter values, but got {config!r}.")
        active: set[str] = set()

        def walk(space: Space) -> None:
            for name, dom in space.domains.items():
                if isinstance(dom, Fixed):
                    if name in config and not _same(config[name], dom.value):
                        raise SpaceError(f"{what}: '{name}' = {config[name]!r}, but the space fixes it at "
                                         f"{dom.value!r}; leave it out (or change the fixed value).")
                    continue
                active.add(name)
                if name not in config:
                    raise SpaceError(f"{what} {config!r} has no value for '{name}' ({dom!r}).")
                if not dom.contains(config[name]):
                    raise SpaceError(f"{what}: '{name}' = {config[name]!r} is outside its domain {dom!r}.")
                if isinstance(dom, Conditional):
                    walk(dom.branches[config[name]])

        walk(self)
        extra = set(config) - active - {n for n, d in self._flat.items() if isinstance(d, Fixed)}
        if extra:
            raise SpaceError(f"{what} {config!r} sets {sorted(extra)}, which the space does not search "
                             "(or which belong to a branch not chosen).")

    def distributions_for(self, params: dict[str, Any]) -> dict[str, Any]:
        """Optuna distributions of the parameters present in ``params`` (the active branch)."""
        return {name: self._flat[name].distribution() for name in params}

    def grid(self) -> dict[str, list[Any]]:
        """The search space as the grid sampler wants it: every parameter with its finite list of values."""
        if self.is_conditional:
            raise SpaceError("the grid sampler cannot search a conditional space; declare one study per branch, or "
                             "use another sampler.")
        return {n: d.grid_values(n) for n, d in self._flat.items() if not isinstance(d, Fixed)}

    def kinds(self) -> set[str]:
        """The kinds of domain in the space ('float', 'randint', 'choice', 'conditional')."""
        return {d.kind for d in self._flat.values() if not isinstance(d, Fixed)}

    @classmethod
    def from_dict(cls, described: dict[str, Any]) -> Space:
        """Rebuild a space from :meth:`to_dict` (as stored in the study database). Choices of non-primitive
        values come back as choices of their ``repr`` strings, proposed by index as before."""
        return cls({name: _domain_from_dict(d) for name, d in described.items()})

    def __repr__(self) -> str:
        return f"Space({self.domains!r})"


def _domain_from_dict(d: dict[str, Any]) -> Domain:
    from autotune.spaces import _domains as D

    kind = d["kind"]
    if kind in ("uniform", "loguniform"):
        return D.Float(d["low"], d["high"], log=kind == "loguniform", step=d.get("step"))
    if kind == "randint":
        return D.Int(d["low"], d["high"], step=d.get("step", 1), log=d.get("log", False))
    if kind == "choice":
        return D.Categorical(d["values"], by_index=d.get("by_index", False))
    if kind == "conditional":
        return D.Conditional({k: {n: _domain_from_dict(v) for n, v in sub.items()}
                              for k, sub in d["branches"].items()})
    if kind == "fixed":
        return D.Fixed(d["value"])
    raise SpaceError(f"unknown domain kind {kind!r} in a stored space; upgrade autotune.")


def _same(a: Any, b: Any) -> bool:
    """Whether an enqueued value is the fixed one: equal, or described alike (an object as a stored configuration
    holds it: its repr, e.g. in best_params read back from the database)."""
    if Fixed(a).to_dict() == Fixed(b).to_dict():
        return True
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arrays and the like: same object or not
        return a is b
