"""Adapter: any gymnax-API environment object as a purerl `Env`, with termination and truncation apart.

`from_gymnax(env, params)` wraps an object with gymnax's lower-level API (`reset_env(key, params)`,
`step_env(key, state, action, params)`, `observation_space(params)`, `action_space(params)`, and
`default_params`); `make_gymnax(name)` is `from_gymnax(*gymnax.make(name))`. Other libraries that copy
gymnax's API (Craftax, many research envs) work too: spaces are read by duck typing (`n` for a discrete
space; `low`, `high`, `shape` for a box).

The public `step` of gymnax auto-resets and hides the pre-reset observation in `info`; we wrap
`reset_env` / `step_env` instead, so resetting is the job of `wrappers.auto_reset` like for every other
env, and `final_obs` is exact.

How `terminated` and `truncated` are split (`step_env` returns a single `done`):

1. The object has `is_truncated(state, params)` (gymnax >= 1.0): `done` is the natural end
   (`terminated`), and `truncated = is_truncated(next_state, params) & ~terminated`.
2. Otherwise, if `params.max_steps_in_episode` exists and the state has a `time` counter (gymnax < 1.0
   folded the time limit into `done`): `truncated = next_state.time >= params.max_steps_in_episode`,
   `terminated = done & ~truncated`. A natural end on the very last step then counts as a truncation:
   such an API gives no way to tell the two apart.
3. Otherwise every `done` is a termination and nothing is ever truncated (add `wrappers.time_limit`).

Observations are always float32: integer grids (Catch) are cast, and a `Discrete` observation
(FrozenLake) is one-hot encoded. Rewards are float32 scalars, flags are bool scalars.
"""

from __future__ import annotations

from typing import Any

import gymnax
import jax
import jax.numpy as jnp
import numpy as np

from purerl.envs.core import Env, EnvSpec
from purerl.spaces import Box, Discrete
from purerl.types import TimeStep

# MNISTBandit downloads MNIST when it is constructed; purerl only registers envs that run offline.
UNSUPPORTED = {"MNISTBandit-bsuite": "it downloads MNIST at construction time"}
GYMNAX_NAMES = tuple(name for name in gymnax.registered_envs if name not in UNSUPPORTED)
# Episode bound used for `EnvSpec.max_episode_steps` when an object declares no time limit.
DEFAULT_MAX_EPISODE_STEPS = 10_000


def convert_space(space: Any) -> Box | Discrete:
    """A gymnax-style space (anything with `n`, or with `low`, `high`, `shape`) as a purerl space.

    Raises:
        TypeError: for other spaces (gymnax's `Dict` and `Tuple` have no flat purerl equivalent).
    """
    if hasattr(space, "n"):
        return Discrete(int(space.n))
    if all(hasattr(space, attr) for attr in ("low", "high", "shape")):
        shape = tuple(int(d) for d in space.shape)
        return Box.from_bounds(np.asarray(space.low), np.asarray(space.high), shape)
    raise TypeError(f"unsupported gymnax space {space!r} (need a Discrete- or Box-like space)")


def _obs_converter(raw_space: Any) -> tuple[Box, Any]:
    """`(float32 Box, obs -> float32 obs)` for an observation space."""
    space = convert_space(raw_space)
    if isinstance(space, Discrete):
        num_obs = space.n

        def one_hot(obs):
            return jax.nn.one_hot(obs, num_obs, dtype=jnp.float32)

        return Box.from_bounds(0.0, 1.0, (num_obs,)), one_hot
    return space, lambda obs: jnp.asarray(obs, jnp.float32)


def _action_converter(space: Box | Discrete) -> Any:
    if isinstance(space, Discrete):
        return lambda action: jnp.asarray(action, jnp.int32)
    return lambda action: jnp.asarray(action, jnp.float32).reshape(space.shape)


def from_gymnax(
    env: Any, params: Any = None, name: str | None = None, *, max_episode_steps: int | None = None
) -> tuple[Env, Any]:
    """Wrap a gymnax-API environment object as a purerl `Env` (see the module docstring for the rule
    that splits `terminated` from `truncated`).

    Args:
        env: an object with `reset_env`, `step_env`, `observation_space(params)` and
            `action_space(params)` (and `default_params`, used when `params` is None).
        params: the env's params pytree; None means `env.default_params`.
        name: `EnvSpec.name`; default `env.name` if it has one, else its class name.
        max_episode_steps: `EnvSpec.max_episode_steps`; default `params.max_steps_in_episode` if
            present, else `DEFAULT_MAX_EPISODE_STEPS`.

    Returns:
        `(env, params)`: the `Env` (observations `[*obs_shape]` float32; no auto-reset) and the params.
    """
    if params is None:
        params = env.default_params
    if name is None:
        name = str(getattr(env, "name", type(env).__name__))
    obs_space, convert_obs = _obs_converter(env.observation_space(params))
    action_space = convert_space(env.action_space(params))
    convert_action = _action_converter(action_space)
    has_is_truncated = callable(getattr(env, "is_truncated", None))
    has_time_limit = hasattr(params, "max_steps_in_episode")

    def split(done, state, params):
        """`(terminated, truncated)` from `step_env`'s `done` and the state it reached."""
        done = jnp.asarray(done, bool)
        if has_is_truncated:
            return done, jnp.asarray(env.is_truncated(state, params), bool) & ~done
        if has_time_limit and hasattr(state, "time"):
            limit = jnp.asarray(state.time >= params.max_steps_in_episode, bool)
            return done & ~limit, limit
        return done, jnp.zeros((), bool)

    def reset(key, params):
        obs, state = env.reset_env(key, params)
        obs = convert_obs(obs)
        false = jnp.zeros((), bool)
        return state, TimeStep(obs, jnp.zeros((), jnp.float32), false, false, obs, {})

    def step(key, state, action, params):
        obs, state, reward, done, _ = env.step_env(key, state, convert_action(action), params)
        terminated, truncated = split(done, state, params)
        obs = convert_obs(obs)
        reward = jnp.asarray(reward, jnp.float32)
        return state, TimeStep(obs, reward, terminated, truncated, obs, {})

    if max_episode_steps is None:
        max_episode_steps = int(getattr(params, "max_steps_in_episode", DEFAULT_MAX_EPISODE_STEPS))
    spec = EnvSpec(name, obs_space, action_space, int(max_episode_steps))
    return Env(reset, step, spec), params


def make_gymnax(name: str, **kwargs: Any) -> tuple[Env, Any]:
    """Build the gymnax registry's environment `name` as an `Env`; `kwargs` go to `gymnax.make`.

    Returns:
        `(env, params)` where `params` is gymnax's `EnvParams` (a pytree; vmap over it for env sweeps).
    """
    if name in UNSUPPORTED:
        raise ValueError(f"{name} is not supported: {UNSUPPORTED[name]}")
    genv, params = gymnax.make(name, **kwargs)
    return from_gymnax(genv, params, name)
