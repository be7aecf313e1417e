"""Multi-armed bandits as episodic `Env`s, with the problem itself in `params` so sweeps can vmap over it."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from purerl.envs import wrappers
from purerl.envs.core import Env, EnvSpec
from purerl.spaces import Box, Discrete
from purerl.types import Array, PRNGKey, TimeStep


class BernoulliBanditParams(NamedTuple):
    """One Bernoulli bandit problem.

    Attributes:
        probs: `[num_arms]` float32, success probability of each arm (reward 1 with it, else 0).
    """

    probs: Array


class BernoulliBanditState(NamedTuple):
    """A bandit has no state; the time limit's step counter lives in the `time_limit` wrapper."""


def default_params(num_arms: int = 10) -> BernoulliBanditParams:
    """Fixed, key-free problem: probabilities evenly spaced in `[0.1, 0.9]`, best arm last."""
    return BernoulliBanditParams(jnp.linspace(0.1, 0.9, num_arms, dtype=jnp.float32))


def sample_params(key: PRNGKey, num_arms: int = 10) -> BernoulliBanditParams:
    """A random problem: every arm's probability uniform in `[0, 1]`.

    Args:
        key: PRNG key.
        num_arms: number of arms.

    Returns:
        Params with `probs` of shape `[num_arms]` (vmap over keys for a `[P, num_arms]` batch of problems).
    """
    return BernoulliBanditParams(jax.random.uniform(key, (num_arms,), jnp.float32))


def make_bernoulli_bandit(num_arms: int = 10, horizon: int = 100) -> tuple[Env, BernoulliBanditParams]:
    """`Bandit-Bernoulli-v0`: pull one of `num_arms` arms, receive a Bernoulli(probs[arm]) reward.

    The observation is the constant `[1.]` (bandits have no context), `info` is empty, and the episode
    is truncated (not terminated: there is no terminal state) after `horizon` pulls, so the episode
    return is the total reward of `horizon` pulls and regret is `horizon * max(probs) - return`.

    Args:
        num_arms: number of arms (the `Discrete` action space).
        horizon: pulls per episode.

    Returns:
        `(env, params)` with `params = default_params(num_arms)`; use `sample_params` for random problems.

    Raises:
        ValueError: if `num_arms` or `horizon` is not positive.
    """
    if num_arms < 1:
        raise ValueError(f"num_arms must be >= 1, got {num_arms}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    obs = jnp.ones((1,), jnp.float32)

    def reset(key: PRNGKey, params: BernoulliBanditParams) -> tuple[BernoulliBanditState, TimeStep]:
        del key, params
        false = jnp.zeros((), bool)
        return BernoulliBanditState(), TimeStep(obs, jnp.zeros((), jnp.float32), false, false, obs, {})

    def step(
        key: PRNGKey, state: BernoulliBanditState, action: Array, params: BernoulliBanditParams
    ) -> tuple[BernoulliBanditState, TimeStep]:
        reward = jax.random.bernoulli(key, params.probs[action]).astype(jnp.float32)
        false = jnp.zeros((), bool)
        return state, TimeStep(obs, reward, false, false, obs, {})

    spec = EnvSpec("Bandit-Bernoulli-v0", Box.from_bounds(1.0, 1.0, (1,)), Discrete(num_arms), horizon)
    return wrappers.time_limit(Env(reset, step, spec), horizon), default_params(num_arms)
