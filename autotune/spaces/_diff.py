"""How a stored search space differs from the declared one, in words: what refuses to resume a study whose space
changed (``parameter 'lr' was uniform(0.0, 1.0) and is now loguniform(1e-05, 1.0)``)."""

from __future__ import annotations

from typing import Any

from autotune.spaces._domains import strip_addresses


def _no_addresses(value: Any) -> Any:
    """A stored space description with memory addresses dropped: earlier versions stored the ``repr`` of a function
    in a space with its address, which changes with every process, so such a study could never be resumed."""
    if isinstance(value, str):
        return strip_addresses(value)
    if isinstance(value, list):
        return [_no_addresses(v) for v in value]
    if isinstance(value, dict):
        return {k: _no_addresses(v) for k, v in value.items()}
    return value


def _shown(domain: Any) -> str:
    """A stored domain as it is written in a study file, e.g. ``uniform(-5.0, 5.0)``, ``randint(1, 9, step=2)``."""
    if not isinstance(domain, dict) or "kind" not in domain:
        return repr(domain)
    rest = {k: v for k, v in domain.items() if k != "kind"}
    if domain["kind"] == "conditional":
        return "choice({" + ", ".join(f"{k!r}: {{...}}" for k in rest.get("branches", {})) + "})"
    args = [repr(rest.pop(k)) for k in ("low", "high", "values", "value") if k in rest]
    defaults = {"step": 1 if domain["kind"] == "randint" else None, "log": False, "by_index": True}
    args += [f"{k}={v!r}" for k, v in rest.items()  # a default left out (compared by type too: True == 1)
             if k not in defaults or type(v) is not type(defaults[k]) or v != defaults[k]]
    return f"{domain['kind']}({', '.join(args)})"


def space_change(stored: dict[str, Any], declared: dict[str, Any]) -> str | None:
    """The first difference between a stored space and the declared one, in words; None when they are the same."""
    return _change(_no_addresses(stored), _no_addresses(declared), "")


def _change(stored: dict[str, Any], declared: dict[str, Any], where: str) -> str | None:
    for key in stored:
        if key not in declared:
            return f"parameter '{key}'{where} is no longer declared"
        was, now = stored[key], declared[key]
        if was != now and was.get("kind") == now.get("kind") == "conditional":
            if set(was["branches"]) != set(now["branches"]):
                return f"parameter '{key}'{where} had the branches {list(was['branches'])} and now has " \
                       f"{list(now['branches'])}"
            return next(_change(b, now["branches"][name], f" (in branch '{name}' of '{key}')")
                        for name, b in was["branches"].items() if b != now["branches"][name])  # (names in any order)
        if was != now:
            return f"parameter '{key}'{where} was {_shown(was)} and is now {_shown(now)}"
    for key in declared:
        if key not in stored:
            return f"parameter '{key}'{where} is new"
    return None

