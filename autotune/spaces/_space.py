"""A whole search space: named domains, conditional branches flattened into one ``config`` dict.

>>> from autotune.spaces import Space, choice, randint, uniform
>>> space = Space({"x": uniform(0, 1), "opt": choice({"sgd": {"momentum": uniform(0, 0.9)}, "adam": {}})})
>>> sorted(space.param_names())
['momentum', 'opt', 'x']

A name may have another domain in another branch of the same choice. The objective sees the plain name either way;
the samplers (and the stored params) see one parameter per branch, named after the branch:

>>> space = Space({"m": choice({"rf": {"n": randint(50, 500)}, "gbm": {"n": randint(100, 2000)}})})
>>> space.param_names()
['m', 'n[m=rf]', 'n[m=gbm]']
"""

from __future__ import annotations

from typing import Any

from autotune.errors import SpaceError
from autotune.spaces._domains import Categorical, Domain, Fixed, Float, Int

# Where a domain is declared: the choices and branches above it, from the top level down, e.g.
# (("model", "boosting"), ("booster", "dart")); () at the top level.
Path = tuple[tuple[str, str], ...]


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
            self._flatten()

    # -- structure -----------------------------------------------------------------------------------------
    def _flatten(self) -> None:
        """Name every searched parameter as the samplers see it, checking that the space is one.

        Sets ``_flat`` (sampler name -> domain, in declaration order; constants left out), ``_keys`` ((path, name)
        of each declared domain -> its sampler name) and ``_fixed`` (the names of constants, in any branch).

        A name declared with one domain everywhere is one parameter under its own name, as it always was: the
        samplers learn from every branch that declares it, and a stored study keeps its meaning. A name declared
        with different domains in branches that exclude each other is one parameter per branch, named
        ``name[choice=branch,...]`` after the branches it sits in. Declarations that can be active in one
        configuration must agree, since the objective gets one value for the name.
        """
        leaves: dict[str, list[tuple[Path, Domain]]] = {}
        choices: dict[str, Path] = {}
        order: list[tuple[Path, str, Domain]] = []  # every declaration but the constants, in declaration order

        def walk(space: Space, path: Path) -> None:
            for name, dom in space.domains.items():
                first = choices.get(name, leaves[name][0][0] if name in leaves else None)
                if first is not None and (isinstance(dom, Conditional) or name in choices):
                    raise SpaceError(f"the conditional parameter '{name}' is declared twice ({_where(first)} and "
                                     f"{_where(path)}); a choice of sub-spaces needs a name of its own: rename one.")
                if isinstance(dom, Conditional):
                    choices[name] = path
                    order.append((path, name, dom))
                    for branch, sub in dom.branches.items():
                        walk(sub, (*path, (name, branch)))
                    continue
                leaves.setdefault(name, []).append((path, dom))
                if not isinstance(dom, Fixed):
                    order.append((path, name, dom))

        walk(self, ())
        keys: dict[tuple[Path, str], str] = {(path, name): name for name, path in choices.items()}
        for name, declared in leaves.items():
            for i, (path, dom) in enumerate(declared):
                for other_path, other in declared[:i]:
                    if dom != other and not _exclusive(path, other_path):
                        raise SpaceError(
                            f"parameter '{name}' is declared with two domains that can be active in one "
                            f"configuration: {other!r} ({_where(other_path)}) and {dom!r} ({_where(path)}); a name "
                            "may have another domain only in another branch of the same choice. Rename one, or "
                            "give both the same domain.")
            keys.update(_sampler_names(name, [(p, d) for p, d in declared if not isinstance(d, Fixed)]))
        flat: dict[str, Domain] = {}
        owner: dict[str, str] = {}
        for path, name, dom in order:
            key = keys[(path, name)]
            if key in owner and owner[key] != name:
                raise SpaceError(f"parameter '{name}' ({_where(path)}) has another domain in another branch, so the "
                                 f"samplers know it there as '{key}'; but the space declares '{key}' as a parameter "
                                 "of its own too: rename that one.")
            owner[key] = name
            flat.setdefault(key, dom)
        self._flat = flat
        self._keys = keys
        self._fixed = {name for name, declared in leaves.items() if any(isinstance(d, Fixed) for _, d in declared)}
        self._renamed = any(key != name for (_, name), key in keys.items())

    def param_names(self) -> list[str]:
        """Names of every searched parameter (constants excluded), across all branches, as the samplers and the
        stored params know them: a name with another domain in another branch once per branch (``n[model=gbm]``)."""
        return list(self._flat)

    @property
    def is_conditional(self) -> bool:
        return any(isinstance(d, Conditional) for d in self._flat.values())

    def to_dict(self) -> dict[str, Any]:
        return {name: dom.to_dict() for name, dom in self.domains.items()}

    # -- sampling and conversion -------------------------------------------------------------------------
    def sample(self, otrial) -> tuple[dict[str, Any], dict[str, Any]]:
        """Ask an Optuna trial for every active parameter; returns ``(params, config)``.

        ``params`` hold what the sampler proposed (its encoding), under the sampler's names; ``config`` is what
        the objective receives, under the declared names. A ``FixedTrial`` may hold either: stored params, or a
        configuration (with choices by index encoded, as the sampler sees them, where the name is the sampler's).
        """
        if self._renamed:
            otrial = self._by_sampler_names(otrial)
        params: dict[str, Any] = {}
        config: dict[str, Any] = {}

        def walk(space: Space, path: Path) -> None:
            for name, dom in space.domains.items():
                if isinstance(dom, Fixed):
                    config[name] = dom.value
                    continue
                key = self._keys[(path, name)]
                value = dom.suggest(otrial, key)
                params[key] = value
                if isinstance(dom, Conditional):
                    config[name] = value
                    walk(dom.branches[value], (*path, (name, value)))
                elif isinstance(dom, Categorical):
                    config[name] = dom.decode(value)
                else:
                    config[name] = value

        walk(self, ())
        return params, config

    def _by_sampler_names(self, otrial):
        """A ``FixedTrial`` built from a configuration (declared names), as one under the sampler's names."""
        from optuna.trial import FixedTrial

        if not isinstance(otrial, FixedTrial):
            return otrial
        given = otrial._params  # what it was built with (its ``params`` are those suggested so far)
        values = dict(given)

        def walk(space: Space, path: Path) -> None:
            for name, dom in space.domains.items():
                if isinstance(dom, Fixed):
                    continue
                key = self._keys[(path, name)]
                if key != name and key not in given and name in given:
                    value = given[name]
                    if isinstance(dom, Categorical) and dom.by_index and value in dom.values:
                        value = dom.values.index(value)
                    values[key] = value
                if isinstance(dom, Conditional) and values.get(key) in dom.branches:
                    walk(dom.branches[values[key]], (*path, (name, values[key])))

        walk(self, ())
        return FixedTrial(values, number=otrial.number)

    def config_from_params(self, params: dict[str, Any], *, decode: bool = True) -> dict[str, Any]:
        """The objective's ``config`` for stored ``params`` (declared names, indices decoded, constants added).
        ``decode=False`` leaves choices by index as their indices."""
        config: dict[str, Any] = {}

        def walk(space: Space, path: Path) -> None:
            for name, dom in space.domains.items():
                if isinstance(dom, Fixed):
                    config[name] = dom.value
                    continue
                value = params[self._keys[(path, name)]]
                if isinstance(dom, Conditional):
                    config[name] = value
                    walk(dom.branches[value], (*path, (name, value)))
                elif isinstance(dom, Categorical) and decode:
                    config[name] = dom.decode(value)
                else:
                    config[name] = value

        walk(self, ())
        return config

    def check_config(self, config: dict[str, Any], what: str = "configuration") -> None:
        """Refuse a configuration that misses an active parameter, has an unknown one, or a value outside its
        domain; the message names the parameter, the value and the domain.

        A configuration uses the declared names; stored params (a parameter with another domain in another branch
        under its sampler name, e.g. ``n[model=gbm]``) are accepted too, so that an earlier study's trials can be
        run again."""
        if not isinstance(config, dict):
            raise SpaceError(f"{what} must be a dict of parameter values, but got {config!r}.")
        active: set[str] = set()

        def walk(space: Space, path: Path) -> None:
            for name, dom in space.domains.items():
                if isinstance(dom, Fixed):
                    if name in config and not _same(config[name], dom.value):
                        raise SpaceError(f"{what}: '{name}' = {config[name]!r}, but the space fixes it at "
                                         f"{dom.value!r}; leave it out (or change the fixed value).")
                    continue
                key = self._keys[(path, name)]
                if key != name and key in config:
                    if name in config:
                        raise SpaceError(f"{what} {config!r} sets both '{name}' and '{key}', the name the samplers "
                                         f"know it by in this branch; give '{name}' only.")
                    name = key
                active.add(name)
                if name not in config:
                    raise SpaceError(f"{what} {config!r} has no value for '{name}' ({dom!r}{_branch(path)}).")
                if not dom.contains(config[name]):
                    raise SpaceError(f"{what}: '{name}' = {config[name]!r} is outside its domain {dom!r}"
                                     f"{_branch(path)}.")
                if isinstance(dom, Conditional):
                    walk(dom.branches[config[name]], (*path, (name, config[name])))

        walk(self, ())
        extra = set(config) - active - self._fixed
        if extra:
            raise SpaceError(f"{what} {config!r} sets {sorted(extra)}, which the space does not search "
                             "(or which belong to a branch not chosen).")

    def distributions_for(self, params: dict[str, Any]) -> dict[str, Any]:
        """Optuna distributions of the parameters present in ``params`` (stored params: the active branch)."""
        return {name: self._flat[name].distribution() for name in params}

    def grid(self) -> dict[str, list[Any]]:
        """The search space as the grid sampler wants it: every parameter with its finite list of values."""
        if self.is_conditional:
            raise SpaceError("the grid sampler cannot search a conditional space; declare one study per branch, or "
                             "use another sampler.")
        return {n: d.grid_values(n) for n, d in self._flat.items()}

    @classmethod
    def from_dict(cls, described: dict[str, Any]) -> Space:
        """Rebuild a space from :meth:`to_dict` (as stored in the study database). Choices of non-primitive
        values come back as choices of their ``repr`` strings, proposed by index as before."""
        return cls({name: _domain_from_dict(d) for name, d in described.items()})

    def __repr__(self) -> str:
        return f"Space({self.domains!r})"


class Conditional(Domain):
    """A choice among named sub-spaces: the chosen name is a parameter, and so are the chosen branch's values."""

    kind = "conditional"

    def __init__(self, branches: dict[str, dict[str, Any]]) -> None:
        if not branches:
            raise SpaceError("choice: the dict of sub-spaces is empty; give at least one branch.")
        for key, sub in branches.items():
            if not isinstance(key, str):
                raise SpaceError(f"choice: branch names must be strings, but got {key!r}.")
            if not isinstance(sub, (dict, Space)):
                raise SpaceError(f"choice: branch '{key}' must be a dict of parameters (possibly empty), but got "
                                 f"{sub!r}.")
        self.branches = {k: Space(v, _nested=True) for k, v in branches.items()}
        self._frozen = True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "conditional", "branches": {k: v.to_dict() for k, v in self.branches.items()}}

    def distribution(self):
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(tuple(self.branches))

    def suggest(self, otrial, name: str) -> str:
        return otrial.suggest_categorical(name, tuple(self.branches))

    def contains(self, value: Any) -> bool:
        return value in self.branches

    def __repr__(self) -> str:
        return f"choice({ {k: dict(v.domains) for k, v in self.branches.items()}!r})"


def choice(options: list[Any] | dict[str, dict[str, Any]]) -> Categorical | Conditional:
    """One of a list of values, or one of several named sub-spaces (a conditional space).

    >>> choice(["relu", "tanh"])
    choice(['relu', 'tanh'])
    """
    if isinstance(options, dict):
        return Conditional(options)
    if isinstance(options, (str, bytes)) or not hasattr(options, "__iter__"):
        raise SpaceError(f"choice: expected a list of values or a dict of sub-spaces, but got {options!r}.")
    return Categorical(list(options))



def _domain_from_dict(d: dict[str, Any]) -> Domain:
    kind = d["kind"]
    if kind in ("uniform", "loguniform"):
        return Float(d["low"], d["high"], log=kind == "loguniform", step=d.get("step"))
    if kind == "randint":
        return Int(d["low"], d["high"], step=d.get("step", 1), log=d.get("log", False))
    if kind == "choice":
        return Categorical(d["values"], by_index=d.get("by_index", False))
    if kind == "conditional":
        return Conditional({k: {n: _domain_from_dict(v) for n, v in sub.items()}
                              for k, sub in d["branches"].items()})
    if kind == "fixed":
        return Fixed(d["value"])
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


def _exclusive(a: Path, b: Path) -> bool:
    """Whether no configuration holds both places: they lie in different branches of one choice."""
    for (choice_a, branch_a), (choice_b, branch_b) in zip(a, b, strict=False):
        if choice_a != choice_b:
            return False  # two choices of one (sub-)space: both are active
        if branch_a != branch_b:
            return True
    return False


def _sampler_names(name: str, declared: list[tuple[Path, Domain]]) -> dict[tuple[Path, str], str]:
    """The sampler's name of each searched declaration of ``name``: ``name`` when they all have one domain;
    otherwise one name per group of declarations that can be active together (they share their domain), after the
    branches the group lies in, e.g. ``n[model=boosting]``."""
    distinct: list[Domain] = []
    for _, dom in declared:
        if not any(dom == d for d in distinct):  # (by value, as domains compare; not by hash)
            distinct.append(dom)
    if len(distinct) <= 1:
        return {(path, name): name for path, _ in declared}
    group = list(range(len(declared)))  # union-find over "can be active together"

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i, (path, _) in enumerate(declared):
        for j in range(i):
            if not _exclusive(path, declared[j][0]):
                group[root(i)] = root(j)
    members: dict[int, list[Path]] = {}
    for i, (path, _) in enumerate(declared):
        members.setdefault(root(i), []).append(path)
    out: dict[tuple[Path, str], str] = {}
    taken: dict[str, Path] = {}
    for paths in members.values():
        common = paths[0][:min(len(p) for p in paths)]
        while any(p[:len(common)] != common for p in paths):
            common = common[:-1]
        key = f"{name}[{','.join(f'{c}={b}' for c, b in common)}]" if common else name
        if key in taken:  # branch names holding ',' or '=' can spell two places alike
            raise SpaceError(f"parameter '{name}' has different domains {_where(taken[key])} and {_where(common)}, "
                             f"which the samplers would both know as '{key}'; rename a branch (one without ',' or "
                             "'=' in its name).")
        taken[key] = common
        out.update({(path, name): key for path in paths})
    return out


def _where(path: Path) -> str:
    return "in branch '" + ", ".join(f"{c}={b}" for c, b in path) + "'" if path else "at the top level"


def _branch(path: Path) -> str:
    return f" {_where(path)}" if path else ""
