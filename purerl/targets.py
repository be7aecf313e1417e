"""Conventional "solved" returns per environment: what the fraction of seeds at target is measured against.

A seed *reaches* the target when its final evaluation return is `>= target`; a diverged seed never does.
Only thresholds with a source are listed: gymnasium's `reward_threshold` in its environment registry
(`gymnasium/envs/__init__.py`) for the classic-control tasks, and the optimal return for the probe
environments whose optimum a trained policy attains exactly (`purerl/envs/probes.py`). Environments
without a conventional threshold (Pendulum-v1: gymnasium registers none; MinAtar, bsuite, bandits) have no
target, and tables show "-" for them; pass `target=` to `runner.run` / `purerl.train` to set one.
"""

from __future__ import annotations

import math
from typing import NamedTuple


class Target(NamedTuple):
    """A return threshold and where it comes from."""

    value: float
    source: str


_GYMNASIUM = "gymnasium reward_threshold"
_OPTIMUM = "optimal return (purerl.envs.probes)"

TARGETS: dict[str, Target] = {
    "CartPole-v1": Target(475.0, _GYMNASIUM),
    "Acrobot-v1": Target(-100.0, _GYMNASIUM),
    "MountainCar-v0": Target(-110.0, _GYMNASIUM),
    "MountainCarContinuous-v0": Target(90.0, _GYMNASIUM),
    # Probe-ObsReward-v0 (return = a random ±1 observation) and Probe-ContinuousTarget-v0 (optimum 0, met
    # only in the limit) have no threshold a seed could be said to reach.
    "Probe-ConstantReward-v0": Target(1.0, _OPTIMUM),
    "Probe-TwoStep-v0": Target(1.0, _OPTIMUM),
    "Probe-ActionReward-v0": Target(1.0, _OPTIMUM),
    "Probe-ObsActionReward-v0": Target(1.0, _OPTIMUM),
}


def resolve_target(env_name: str | None, override: float | None = None) -> Target | None:
    """The target of a run: `override` if given, else the env's entry in `TARGETS`, else None.

    Raises:
        ValueError: an `override` that is not a finite number.
    """
    if override is not None:
        if isinstance(override, bool) or not isinstance(override, int | float) or not math.isfinite(override):
            raise ValueError(f"target must be a finite number or None, got {override!r}")
        return Target(float(override), "given (target=)")
    return TARGETS.get(env_name) if env_name is not None else None
