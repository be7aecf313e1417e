"""Adapter: every gymnax environment as a purerl `Env`, with termination and truncation kept apart.

gymnax (>= 1.0) reports the natural end of an episode from `step_env` and the time limit from
`is_truncated(state, params)` (`state.time >= params.max_steps_in_episode`). Its public `step` auto-resets
and hides the pre-reset observation in `info`; we wrap the lower-level `reset_env` / `step_env` instead,
so resetting is the job of `wrappers.auto_reset` like for every other env, and `final_obs` is exact.

Observations are always float32: integer grids (Catch) are cast, and a `Discrete` observation
(FrozenLake) is one-hot encoded. Rewards are float32 scalars, flags are bool scalars.
"""

from __future__ import annotations

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces as gspaces

from purerl.envs.core import Env, EnvSpec
from purerl.spaces import Box, Discrete
from purerl.types import TimeStep

# MNISTBandit downloads MNIST when it is constructed; purerl only registers envs that run offline.
UNSUPPORTED = {"MNISTBandit-bsuite": "it downloads MNIST at construction time"}
GYMNAX_NAMES = tuple(name for name in gymnax.registered_envs if name not in UNSUPPORTED)


def _convert_space(space) -> Box | Discrete:
    if isinstance(space, gspaces.Discrete):
        return Discrete(int(space.n))
    if isinstance(space, gspaces.Box):
        shape = tuple(int(d) for d in space.shape)
        return Box.from_bounds(np.asarray(space.low), np.asarray(space.high), shape)
    raise TypeError(f"unsupported gymnax space {space!r}")


def make_gymnax(name: str, **kwargs) -> tuple[Env, object]:
    """Build the gymnax environment `name` as an `Env`; `kwargs` go to `gymnax.make`.

    Returns:
        `(env, params)` where `params` is gymnax's `EnvParams` (a pytree; vmap over it for env sweeps).
    """
    if name in UNSUPPORTED:
        raise ValueError(f"{name} is not supported: {UNSUPPORTED[name]}")
    genv, params = gymnax.make(name, **kwargs)
    raw_obs_space = genv.observation_space(params)
    action_space = _convert_space(genv.action_space(params))

    if isinstance(raw_obs_space, gspaces.Discrete):
        num_obs = int(raw_obs_space.n)
        obs_space = Box.from_bounds(0.0, 1.0, (num_obs,))

        def convert_obs(obs):
            return jax.nn.one_hot(obs, num_obs, dtype=jnp.float32)
    else:
        obs_space = _convert_space(raw_obs_space)

        def convert_obs(obs):
            return jnp.asarray(obs, jnp.float32)

    if isinstance(action_space, Discrete):

        def convert_action(action):
            return jnp.asarray(action, jnp.int32)
    else:

        def convert_action(action):
            return jnp.asarray(action, jnp.float32).reshape(action_space.shape)

    def reset(key, params):
        obs, state = genv.reset_env(key, params)
        obs = convert_obs(obs)
        false = jnp.zeros((), bool)
        return state, TimeStep(obs, jnp.zeros((), jnp.float32), false, false, obs, {})

    def step(key, state, action, params):
        obs, state, reward, terminated, _ = genv.step_env(key, state, convert_action(action), params)
        terminated = jnp.asarray(terminated, bool)
        truncated = jnp.asarray(genv.is_truncated(state, params), bool) & ~terminated
        obs = convert_obs(obs)
        return state, TimeStep(obs, jnp.asarray(reward, jnp.float32), terminated, truncated, obs, {})

    max_steps = int(getattr(params, "max_steps_in_episode", 10_000))
    spec = EnvSpec(name, obs_space, action_space, max_steps)
    return Env(reset, step, spec), params
