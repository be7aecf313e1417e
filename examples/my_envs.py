"""A custom purerl environment, written from scratch and registered by name.

`MyCorridor-v0`: the agent walks a 1-D corridor of `length` cells, from cell 0 towards the goal at
`length - 1`. Action 0 steps left, 1 steps right; with probability `params.slip` the step goes the
other way. Reaching the goal pays 1 and *terminates* the episode; after `max_steps` steps without
reaching it the episode is *truncated* (a time limit: the agent should bootstrap from `final_obs`).

Use it from the CLI with `purerl train ppo --env MyCorridor-v0 --import examples/my_envs.py`, or from
Python after importing this file (`purerl.plugins.import_env_modules(["examples/my_envs.py"])`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from purerl.envs import Env, EnvSpec, register
from purerl.spaces import Box, Discrete
from purerl.types import TimeStep


class CorridorParams(NamedTuple):
    """Numbers you might sweep (vmappable): `slip`, the probability that a step goes the wrong way."""

    slip: jax.Array | float = 0.1


class CorridorState(NamedTuple):
    """`position`: int32 cell in `[0, length)`; `t`: int32 steps taken in this episode."""

    position: jax.Array
    t: jax.Array


def make_corridor(length: int = 8, max_steps: int = 32) -> tuple[Env, CorridorParams]:
    """Build `MyCorridor-v0` (static options: `length` cells, `max_steps` per episode).

    Observation `[2]` float32 in [0, 1]: position / (length - 1) and t / max_steps (the time makes the
    time limit visible to the agent). Actions `Discrete(2)`.
    """
    if length < 2 or max_steps < 1:
        raise ValueError(f"need length >= 2 and max_steps >= 1, got {length}, {max_steps}")

    def observe(state: CorridorState) -> jax.Array:
        return jnp.stack([state.position / (length - 1), state.t / max_steps]).astype(jnp.float32)

    def reset(key: jax.Array, params: CorridorParams) -> tuple[CorridorState, TimeStep]:
        del key, params  # every episode starts in cell 0
        state = CorridorState(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
        obs = observe(state)
        false = jnp.zeros((), bool)
        return state, TimeStep(obs, jnp.zeros((), jnp.float32), false, false, obs, {})

    def step(
        key: jax.Array, state: CorridorState, action: jax.Array, params: CorridorParams
    ) -> tuple[CorridorState, TimeStep]:
        direction = jnp.where(action == 1, 1, -1)
        direction = jnp.where(jax.random.bernoulli(key, params.slip), -direction, direction)
        position = jnp.clip(state.position + direction, 0, length - 1).astype(jnp.int32)
        state = CorridorState(position, state.t + 1)
        terminated = position == length - 1
        # Never both: reaching the goal on the last step is a termination.
        truncated = (state.t >= max_steps) & ~terminated
        obs = observe(state)
        reward = terminated.astype(jnp.float32)
        return state, TimeStep(obs, reward, terminated, truncated, obs, {})

    spec = EnvSpec(
        name="MyCorridor-v0",
        observation_space=Box.from_bounds(0.0, 1.0, (2,)),
        action_space=Discrete(2),
        max_episode_steps=max_steps,
    )
    return Env(reset, step, spec), CorridorParams()


# Re-importing this file (a notebook cell run twice) registers the same factory again: allowed.
register("MyCorridor-v0", make_corridor)
