"""Multi-armed bandits as episodic `Env`s: Bernoulli and Gaussian arms, a fixed or a random problem.

With `problem="fixed"` (the default) the problem itself is in `params`, so sweeps can vmap over it. With
`problem="random"` every `reset` draws a fresh problem from its key into the env *state*, so every
instance of every seed is its own problem, redrawn at the start of each episode.

Every step reports `info["regret"]`, the expected (pseudo-)regret of the pull, `max_a mu_a - mu_action`
with `mu` the arms' expected rewards (Lai & Robbins, 1985; Bubeck & Cesa-Bianchi, 2012, sec. 1): the
sum over pulls is the pseudo-regret, free of the reward noise. `reset` reports 0 so the info structure
is the same on both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from purerl.envs import wrappers
from purerl.envs.core import Env, EnvSpec
from purerl.spaces import Box, Discrete
from purerl.types import Array, PRNGKey, TimeStep

PROBLEMS = ("fixed", "random")


class BernoulliBanditParams(NamedTuple):
    """One Bernoulli bandit problem.

    Attributes:
        probs: `[num_arms]` float32, success probability of each arm (reward 1 with it, else 0).
    """

    probs: Array


class GaussianBanditParams(NamedTuple):
    """One Gaussian bandit problem (unit-variance rewards).

    Attributes:
        means: `[num_arms]` float32, expected reward of each arm.
    """

    means: Array


class BanditState(NamedTuple):
    """The problem this instance plays; the time limit's step counter lives in the `time_limit` wrapper.

    Attributes:
        arms: `[num_arms]` float32, each arm's expected reward: copied from `params` at reset with
            `problem="fixed"`, drawn from the reset key with `problem="random"`.
    """

    arms: Array


def default_params(num_arms: int = 10) -> BernoulliBanditParams:
    """Fixed, key-free problem: probabilities evenly spaced in `[0.1, 0.9]`, best arm last."""
    return BernoulliBanditParams(jnp.linspace(0.1, 0.9, num_arms, dtype=jnp.float32))


def sample_params(key: PRNGKey, num_arms: int = 10, **_static) -> BernoulliBanditParams:
    """A random Bernoulli problem: every arm's probability uniform in `[0, 1]`.

    Args:
        key: PRNG key.
        num_arms: number of arms.

    Returns:
        Params with `probs` of shape `[num_arms]` (vmap over keys for a `[P, num_arms]` batch of problems).
    """
    return BernoulliBanditParams(jax.random.uniform(key, (num_arms,), jnp.float32))


def default_gaussian_params(num_arms: int = 10) -> GaussianBanditParams:
    """Fixed, key-free problem: means evenly spaced in `[-1, 1]`, best arm last."""
    return GaussianBanditParams(jnp.linspace(-1.0, 1.0, num_arms, dtype=jnp.float32))


def sample_gaussian_params(key: PRNGKey, num_arms: int = 10, **_static) -> GaussianBanditParams:
    """A random Gaussian problem: every arm's mean drawn from N(0, 1) (the 10-armed testbed of Sutton &
    Barto, 2018, sec. 2.3).

    Returns:
        Params with `means` of shape `[num_arms]`.
    """
    return GaussianBanditParams(jax.random.normal(key, (num_arms,), jnp.float32))


def _check_options(num_arms: int, horizon: int, problem: str) -> None:
    if num_arms < 1:
        raise ValueError(f"num_arms must be >= 1, got {num_arms}")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if problem not in PROBLEMS:
        raise ValueError(f"problem must be one of {PROBLEMS}, got {problem!r}")


def _make_bandit(
    name: str,
    num_arms: int,
    horizon: int,
    problem: str,
    arms_of: Callable[[NamedTuple], Array],
    draw: Callable[[PRNGKey, int], NamedTuple],
    pull: Callable[[PRNGKey, Array], Array],
) -> Env:
    """A `num_arms`-armed bandit truncated after `horizon` pulls.

    Args:
        arms_of: `params -> [num_arms]` the arms' expected rewards.
        draw: `(key, num_arms) -> params`, a random problem (used at reset with `problem="random"`).
        pull: `(key, mean) -> reward` float32, one reward of an arm with expected reward `mean`.
    """
    _check_options(num_arms, horizon, problem)
    obs = jnp.ones((1,), jnp.float32)
    false = jnp.zeros((), bool)

    def reset(key: PRNGKey, params: NamedTuple) -> tuple[BanditState, TimeStep]:
        arms = arms_of(draw(key, num_arms) if problem == "random" else params)
        info = {"regret": jnp.zeros((), jnp.float32)}
        return BanditState(arms), TimeStep(obs, jnp.zeros((), jnp.float32), false, false, obs, info)

    def step(
        key: PRNGKey, state: BanditState, action: Array, params: NamedTuple
    ) -> tuple[BanditState, TimeStep]:
        del params  # the problem was fixed at reset
        mean = state.arms[action]
        info = {"regret": state.arms.max() - mean}
        return state, TimeStep(obs, pull(key, mean), false, false, obs, info)

    spec = EnvSpec(name, Box.from_bounds(1.0, 1.0, (1,)), Discrete(num_arms), horizon)
    return wrappers.time_limit(Env(reset, step, spec), horizon)


def make_bernoulli_bandit(
    num_arms: int = 10, horizon: int = 100, problem: str = "fixed"
) -> tuple[Env, BernoulliBanditParams]:
    """`Bandit-Bernoulli-v0`: pull one of `num_arms` arms, receive a Bernoulli(probs[arm]) reward.

    The observation is the constant `[1.]` (bandits have no context), `info["regret"]` is the pull's
    expected regret `max(probs) - probs[arm]`, and the episode is truncated (not terminated: there is no
    terminal state) after `horizon` pulls, so the episode return is the total reward of `horizon` pulls.

    Args:
        num_arms: number of arms (the `Discrete` action space).
        horizon: pulls per episode.
        problem: "fixed": the problem is `params.probs`; "random": each reset draws every arm's
            probability uniform in `[0, 1]` (`sample_params`) from its key, and `params` is unused.

    Returns:
        `(env, params)` with `params = default_params(num_arms)`; use `sample_params` for random problems.

    Raises:
        ValueError: if `num_arms` or `horizon` is not positive, or `problem` is unknown.
    """

    def pull(key: PRNGKey, prob: Array) -> Array:
        return jax.random.bernoulli(key, prob).astype(jnp.float32)

    env = _make_bandit(
        "Bandit-Bernoulli-v0", num_arms, horizon, problem, lambda p: p.probs, sample_params, pull
    )
    return env, default_params(num_arms)


def make_gaussian_bandit(
    num_arms: int = 10, horizon: int = 100, problem: str = "fixed"
) -> tuple[Env, GaussianBanditParams]:
    """`Bandit-Gaussian-v0`: pull one of `num_arms` arms, receive a N(means[arm], 1) reward.

    Observation, `info["regret"]` (`max(means) - means[arm]`) and truncation as in
    `make_bernoulli_bandit`.

    Args:
        num_arms: number of arms.
        horizon: pulls per episode.
        problem: "fixed": the problem is `params.means`; "random": each reset draws every arm's mean
            from N(0, 1) (`sample_gaussian_params`) from its key, and `params` is unused.

    Returns:
        `(env, params)` with `params = default_gaussian_params(num_arms)`.

    Raises:
        ValueError: if `num_arms` or `horizon` is not positive, or `problem` is unknown.
    """

    def pull(key: PRNGKey, mean: Array) -> Array:
        return mean + jax.random.normal(key, (), jnp.float32)

    env = _make_bandit(
        "Bandit-Gaussian-v0", num_arms, horizon, problem, lambda p: p.means, sample_gaussian_params, pull
    )
    return env, default_gaussian_params(num_arms)
