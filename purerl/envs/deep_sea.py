"""DeepSea (Osband et al., 2019, "Deep exploration via randomized value functions"; bsuite, Osband et
al., 2020): the standard test of deep exploration, matching bsuite's deterministic `deep_sea` dynamics.

An agent starts at the top-left cell of an `N x N` grid and falls one row per step, so every episode
lasts exactly `N` steps. In each cell one of the two actions moves it one column right (cost
`0.01 / N`), the other one column left (free; clipped at the wall). Which action is "right" is a
random mapping per cell: `params.action_right[row, col]`. Only the bottom-right cell pays: moving right
from the last column gives +1, so the optimal return is `1 - 0.01` and needs all `N` moves right.
An undirected policy (e.g. uniform dithering) finds it with probability `2^-N` per episode.

Why native rather than gymnax's `DeepSea-bsuite`: gymnax 1.0.1 draws a new action mapping at every
reset when the mapping is randomised (gymnax issue #77, fixed after 1.0.1), which makes the problem
unlearnable; bsuite keeps one mapping per run. Here the mapping is env params, fixed for a run, and a
run with `env_params="sampled"` gives every seed its own (`sample_params`), as bsuite's seeds do.

`info["event_treasure"]` is 1 on the step that collects the +1, `info["event_bad_episode"]` is 1 on the
last step of a *bad* episode, bsuite's term for one in which the agent moved left while on the diagonal
(the optimal path): after that the treasure is out of reach. `rollout.episode_metrics` sums both over a
rollout, which is what bsuite's scoring (`purerl.bsuite`) needs.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from purerl.envs.core import Env, EnvSpec
from purerl.spaces import Box, Discrete
from purerl.types import Array, PRNGKey, TimeStep


class DeepSeaParams(NamedTuple):
    """One DeepSea problem.

    Attributes:
        action_right: `[N, N]` int32 in {0, 1}: the action that moves right in cell `(row, col)`.
    """

    action_right: Array


class DeepSeaState(NamedTuple):
    """Position and whether the episode already left the optimal path.

    Attributes:
        row: int32 scalar in `[0, N]` (`N` after the last step).
        column: int32 scalar in `[0, N)`.
        bad: bool scalar, the agent moved left while on the diagonal.
    """

    row: Array
    column: Array
    bad: Array


def default_params(size: int = 10) -> DeepSeaParams:
    """A fixed, key-free mapping: a multiplicative hash of the cell index, one bit per cell (about half
    the cells have each action as "right", with no pattern along rows, columns or the diagonal)."""
    cells = jnp.arange(size * size, dtype=jnp.uint32)
    mixed = (cells + jnp.uint32(0x9E3779B9)) * jnp.uint32(0x85EBCA6B)
    mixed = (mixed ^ (mixed >> 13)) * jnp.uint32(0xC2B2AE35)
    bits = ((mixed ^ (mixed >> 16)) >> 7) & jnp.uint32(1)
    return DeepSeaParams(bits.astype(jnp.int32).reshape(size, size))


def sample_params(key: PRNGKey, size: int = 10, **_static) -> DeepSeaParams:
    """A uniformly random mapping (each cell's "right" action a fair coin), as bsuite draws per seed.

    Args:
        key: PRNG key.
        size: grid size `N`.
        **_static: the factory's other static options (they do not change the params).

    Returns:
        Params with `action_right` of shape `[size, size]`.
    """
    return DeepSeaParams(jax.random.bernoulli(key, 0.5, (size, size)).astype(jnp.int32))


def make_deep_sea(size: int = 10, unscaled_move_cost: float = 0.01) -> tuple[Env, DeepSeaParams]:
    """`DeepSea-v0` of size `N = size` (module docstring).

    Observation: `[N, N]` float32, one-hot at `(row, column)`; all zeros after the last step (as bsuite).
    Actions: `Discrete(2)`. Reward: `+1` for moving right in the last column, `-unscaled_move_cost / N`
    for every move right. Episodes terminate after exactly `N` steps (never truncated).

    Args:
        size: grid size `N >= 1`.
        unscaled_move_cost: cost of a whole path of right moves (bsuite: 0.01, so the optimum is 0.99).

    Returns:
        `(env, default_params(size))`.

    Raises:
        ValueError: if `size < 1` or the cost is negative.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if unscaled_move_cost < 0:
        raise ValueError(f"unscaled_move_cost must be >= 0, got {unscaled_move_cost}")
    step_cost = unscaled_move_cost / size

    def observe(row: Array, column: Array) -> Array:
        grid = jnp.zeros((size, size), jnp.float32).at[jnp.minimum(row, size - 1), column].set(1.0)
        return jnp.where(row < size, grid, jnp.zeros_like(grid))

    def info(treasure: Array, bad_episode: Array) -> dict[str, Array]:
        return {
            "event_treasure": treasure.astype(jnp.float32),
            "event_bad_episode": bad_episode.astype(jnp.float32),
        }

    def reset(key: PRNGKey, params: DeepSeaParams) -> tuple[DeepSeaState, TimeStep]:
        del key, params
        zero, false = jnp.zeros((), jnp.int32), jnp.zeros((), bool)
        obs = observe(zero, zero)
        ts = TimeStep(obs, jnp.zeros((), jnp.float32), false, false, obs, info(false, false))
        return DeepSeaState(zero, zero, false), ts

    def step(
        key: PRNGKey, state: DeepSeaState, action: Array, params: DeepSeaParams
    ) -> tuple[DeepSeaState, TimeStep]:
        del key
        row = jnp.minimum(state.row, size - 1)  # stepping past the end (undefined) stays in range
        right = action == params.action_right[row, state.column]
        treasure = right & (state.column == size - 1)
        reward = treasure.astype(jnp.float32) - jnp.where(right, step_cost, 0.0).astype(jnp.float32)
        bad = state.bad | (~right & (state.row == state.column))
        column = jnp.clip(state.column + jnp.where(right, 1, -1), 0, size - 1).astype(jnp.int32)
        next_row = (state.row + 1).astype(jnp.int32)
        terminated = next_row >= size
        obs = observe(next_row, column)
        ts = TimeStep(obs, reward, terminated, jnp.zeros((), bool), obs, info(treasure, terminated & bad))
        return DeepSeaState(next_row, column, bad), ts

    spec = EnvSpec("DeepSea-v0", Box.from_bounds(0.0, 1.0, (size, size)), Discrete(2), size)
    return Env(reset, step, spec), default_params(size)
