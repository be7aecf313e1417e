"""The environment contract: an `Env` is a NamedTuple of pure functions for one unbatched instance.

    state, ts = env.reset(key, params)
    state, ts = env.step(key, state, action, params)

Batching is `jax.vmap`. Static options (sizes, names, code switches) are arguments of the factory that
builds the `Env`; only numbers you might `vmap` over live in `params` (a pytree).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

from purerl.spaces import Box, Discrete
from purerl.types import TimeStep

EnvState = Any
EnvParams = Any


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """Static facts about an environment (hashable, so it can be closed over or used as a jit static).

    Attributes:
        name: registered name, e.g. "CartPole-v1".
        observation_space: space of `TimeStep.obs` (with default params).
        action_space: `Discrete` or `Box`.
        max_episode_steps: upper bound on an episode's length with default params (used to size
            evaluation loops).
    """

    name: str
    observation_space: Box | Discrete
    action_space: Box | Discrete
    max_episode_steps: int

    @property
    def discrete_actions(self) -> bool:
        return isinstance(self.action_space, Discrete)


class Env(NamedTuple):
    """A pure environment.

    Attributes:
        reset: `(key, params) -> (state, TimeStep)`; reward 0, not terminated, not truncated,
            `final_obs == obs`.
        step: `(key, state, action, params) -> (state, TimeStep)`. Does not reset by itself unless wrapped
            with `wrappers.auto_reset`.
        spec: static `EnvSpec`.
    """

    reset: Callable[..., tuple[EnvState, TimeStep]]
    step: Callable[..., tuple[EnvState, TimeStep]]
    spec: EnvSpec
