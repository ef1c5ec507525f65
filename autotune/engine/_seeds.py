"""What a run starts from: the configurations to run first (``enqueue=``, a warm start from another study), and the
sampler's seed on a study that already holds trials or beside other drivers."""

from __future__ import annotations

from typing import Any

from autotune.database import TrialState
from autotune.engine._running import loads


def warm_start_configs(db, donor, space, top: int) -> list[dict[str, Any]]:
    """The best ``top`` configurations of the study ``donor`` (a study row) that fit ``space``."""
    from autotune.errors import SpaceError

    done = [r for r in db.all_trials(donor.id) if r.state == TrialState.COMPLETE and r.value is not None]
    done.sort(key=lambda r: r.value if donor.modes[0] == "min" else -r.value)
    picked = []
    for r in done:
        config = loads(r.params)
        try:
            space.check_config(config)
        except SpaceError:
            continue  # outside this study's space
        if config not in picked:
            picked.append(config)
        if len(picked) == top:
            break
    return picked


def stored_params(space, config: dict[str, Any]) -> dict[str, Any]:
    """Stored params for a config to run first (categorical values encoded as the sampler sees them)."""
    from optuna.trial import FixedTrial

    from autotune.spaces import Categorical

    encoded = {}
    for k, v in config.items():
        dom = space._flat.get(k)
        encoded[k] = dom.values.index(v) if isinstance(dom, Categorical) and dom.by_index else v
    return space.sample(FixedTrial(encoded))[0]


def resumed_seed(seed: int, n_numbers: int, driver: str, others: bool) -> int:
    """The seed of a seeded sampler on a study that holds ``n_numbers`` trial numbers already, or beside other
    drivers. Seeded as at first, a continued study's sampler would propose the first run's configurations again
    (its random start-up draws them in the same order), and two drivers started together with one seed would
    propose the same ones: so the seed is mixed with the number of trials (different from the first run, still
    reproducible) and, beside others, with the driver's own id."""
    import numpy as np

    entropy = [seed, n_numbers] + ([int(driver[:8], 16)] if others else [])
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)
