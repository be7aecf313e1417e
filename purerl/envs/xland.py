"""Adapter: XLand-MiniGrid (Nikulin et al., 2024; the `xminigrid` package) as purerl `Env`s. Optional
extra: `pip install "purerl[xminigrid]"`.

Every environment the package registers keeps its own name in purerl: the MiniGrid ports
(`MiniGrid-Empty-8x8`, `MiniGrid-DoorKey-5x5`, `MiniGrid-FourRooms`, ...) and the XLand meta-RL
layouts (`XLand-MiniGrid-R1-9x9`, ...). The names are listed here for the tested xminigrid version,
so registering them imports nothing; the package is imported when an env is built.

Observations are the agent's egocentric view `[V, V, 2]` (tile id, colour id), cast to float32, or,
with `one_hot=True`, `[V, V, NUM_TILES + NUM_COLORS]` one-hot planes (easier for an MLP). Actions are
`Discrete(6)`.

Termination and truncation: xminigrid's `TimeStep` marks the end of an episode with
`step_type == LAST` and gives `discount == 0` only when the goal is reached, so `terminated = last &
(discount == 0)` and `truncated = last & ~terminated` (the time limit `params.max_steps`).

XLand rulesets: the `XLand-MiniGrid-*` envs default to the package's empty ruleset, whose goal is never
met (every episode is truncated, reward 0): they run offline, for throughput and plumbing. Real tasks
come from a benchmark (`xminigrid.load_benchmark("trivial-21k")`), which downloads its rulesets from
the network on first use (cached under `~/.xland_minigrid`); pass one as params, which are a vmappable
pytree: `params = params.replace(ruleset=benchmark.sample_ruleset(key))`.
"""

from __future__ import annotations

import importlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purerl.envs.core import Env, EnvSpec
from purerl.spaces import Box, Discrete
from purerl.types import TimeStep

# `xminigrid.registered_environments()` of xminigrid 0.9.3 (tests check the installed package agrees).
XLAND_NAMES: tuple[str, ...] = (
    *(f"XLand-MiniGrid-R{r}-{s}x{s}" for r in (1, 2, 4) for s in (9, 11, 13, 15, 17)),
    *(f"XLand-MiniGrid-R6-{s}x{s}" for s in (13, 17, 19)),
    *(f"XLand-MiniGrid-R9-{s}x{s}" for s in (16, 19, 25)),
    "MiniGrid-BlockedUnlockPickUp",
    *(f"MiniGrid-DoorKey-{s}x{s}" for s in (5, 6, 8, 16)),
    *(f"MiniGrid-Empty-{s}x{s}" for s in (5, 6, 8, 16)),
    *(f"MiniGrid-EmptyRandom-{s}x{s}" for s in (5, 6, 8, 16)),
    "MiniGrid-FourRooms",
    "MiniGrid-LockedRoom",
    *(f"MiniGrid-MemoryS{s}" for s in (8, 16, 32, 64, 128)),
    "MiniGrid-Playground",
    "MiniGrid-Unlock",
    "MiniGrid-UnlockPickUp",
)


def _import_xminigrid() -> Any:
    try:
        return importlib.import_module("xminigrid")
    except ImportError as err:
        raise ImportError(
            f'XLand-MiniGrid envs need xminigrid: pip install "purerl[xminigrid]" ({err})'
        ) from err


def from_xminigrid(env: Any, params: Any, name: str, *, one_hot: bool = False) -> tuple[Env, Any]:
    """Wrap an xminigrid environment object and its params as a purerl `Env`.

    The env state is xminigrid's own `TimeStep` (it carries the grid, the agent and a PRNG key drawn at
    reset), so `step`'s key is unused: an episode's randomness is fixed by the key given to `reset`.

    Args:
        env: an `xminigrid.environment.Environment`.
        params: its `EnvParams` (with `max_steps` set, as `xminigrid.make` does).
        name: `EnvSpec.name`.
        one_hot: one-hot encode tile and colour ids (`[V, V, NUM_TILES + NUM_COLORS]`).

    Returns:
        `(env, params)`; observations `[V, V, 2]` (or one-hot planes) float32.
    """
    constants = importlib.import_module("xminigrid.core.constants")
    step_types = importlib.import_module("xminigrid.types").StepType
    num_tiles, num_colors = int(constants.NUM_TILES), int(constants.NUM_COLORS)
    shape = tuple(int(d) for d in env.observation_shape(params))
    if len(shape) != 3 or shape[-1] != 2:
        raise TypeError(f"{name}: expected a [V, V, 2] grid observation, got shape {shape}")
    if one_hot:
        shape = (*shape[:2], num_tiles + num_colors)
        obs_space = Box.from_bounds(0.0, 1.0, shape)

        def convert_obs(obs):
            tiles = jax.nn.one_hot(obs[..., 0], num_tiles, dtype=jnp.float32)
            colors = jax.nn.one_hot(obs[..., 1], num_colors, dtype=jnp.float32)
            return jnp.concatenate([tiles, colors], axis=-1)
    else:
        high = np.broadcast_to(np.asarray([num_tiles - 1, num_colors - 1], np.float64), shape)
        obs_space = Box.from_bounds(0.0, high, shape)

        def convert_obs(obs):
            return jnp.asarray(obs, jnp.float32)

    def reset(key, params):
        timestep = env.reset(params, key)
        obs = convert_obs(timestep.observation)
        false = jnp.zeros((), bool)
        return timestep, TimeStep(obs, jnp.zeros((), jnp.float32), false, false, obs, {})

    def step(key, state, action, params):
        del key  # xminigrid's randomness lives in its state
        timestep = env.step(params, state, jnp.asarray(action, jnp.int32))
        last = timestep.step_type == step_types.LAST
        terminated = last & (timestep.discount == 0)
        obs = convert_obs(timestep.observation)
        reward = jnp.asarray(timestep.reward, jnp.float32)
        return timestep, TimeStep(obs, reward, terminated, last & ~terminated, obs, {})

    spec = EnvSpec(name, obs_space, Discrete(int(env.num_actions(params))), int(params.max_steps))
    return Env(reset, step, spec), params


def make_xminigrid(name: str, one_hot: bool = False, **params_overrides: Any) -> tuple[Env, Any]:
    """Build the xminigrid env `name` (one of `XLAND_NAMES`).

    Args:
        name: e.g. "MiniGrid-Empty-8x8" or "XLand-MiniGrid-R1-9x9".
        one_hot: one-hot observation planes instead of raw ids (see the module docstring).
        **params_overrides: `EnvParams` fields, e.g. `max_steps=64` or `view_size=5`.

    Returns:
        `(env, params)`: the `Env` and xminigrid's `EnvParams` pytree.
    """
    xminigrid = _import_xminigrid()
    if name not in xminigrid.registered_environments():
        raise ValueError(f"unknown xminigrid env {name!r}; valid: {', '.join(XLAND_NAMES)}")
    env, params = xminigrid.make(name, **params_overrides)
    return from_xminigrid(env, params, name, one_hot=one_hot)
