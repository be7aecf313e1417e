"""The gradient bandit (Sutton & Barto, 2018, "Reinforcement Learning: An Introduction", 2nd ed., sec. 2.8):
stochastic gradient ascent on the expected reward of a softmax policy over learned preferences.

With preferences `H [K]` (0 at the start) the arm is drawn from `pi = softmax(H)`; after arm `A` paid `R`:

    H <- H + alpha (R - Rbar) (onehot(A) - pi)        (their eq. 2.12)

with the baseline `Rbar` the average of the instance's rewards before this one (`Rbar = R` at the first
pull, which then changes nothing), as in the book's final printing ("up to but not including time t",
with `Rbar_1 = R_1`; an early draft averaged "up through and including" `R`). The baseline does not depend
on the action, so the update stays an unbiased gradient estimate; `baseline=False` uses `Rbar = 0`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl.agents.bandit import ArmStats, BanditConfig, BanditRule, register_bandit, sample_index
from purerl.config import Flag, Positive
from purerl.types import Array, PRNGKey


@dataclasses.dataclass(frozen=True)
class GradientBanditConfig(BanditConfig):
    """Static gradient-bandit options (besides `BanditConfig`'s).

    Attributes:
        baseline: subtract the average-reward baseline `Rbar` (False: `Rbar = 0`).
    """

    baseline: Flag = True


class GradientBanditHParams(NamedTuple):
    """Traced gradient-bandit hyperparameters.

    Attributes:
        step_size: `alpha`, the preference step size.
    """

    step_size: Positive = 0.1


def preference_update(
    preferences: Array, arm: Array, reward: Array, baseline: Array, step_size: Any
) -> Array:
    """`[..., K]` preferences after arm `arm` paid `reward` (both `[...]`, as `baseline`):
    `H + alpha (R - Rbar) (onehot(A) - softmax(H))`."""
    pi = jax.nn.softmax(preferences, axis=-1)
    pulled = jax.nn.one_hot(arm, preferences.shape[-1], dtype=jnp.float32)
    return preferences + step_size * ((reward - baseline)[..., None] * (pulled - pi))


def make_rule(config: GradientBanditConfig) -> BanditRule:
    """The gradient bandit's rule: preferences `[K]` per instance as its own state."""

    def init(num_arms: int) -> Array:
        return jnp.zeros((num_arms,), jnp.float32)

    def select(key: PRNGKey, stats: ArmStats, preferences: Array, hparams: GradientBanditHParams) -> Array:
        del stats
        return sample_index(key, jax.nn.softmax(preferences, axis=-1))

    def learn(
        preferences: Array, stats: ArmStats, arm: Array, reward: Array, hparams: GradientBanditHParams
    ) -> Array:
        pulls = stats.pulls()[..., 0]
        average = stats.sums.sum(-1) / jnp.maximum(pulls, 1).astype(jnp.float32)
        baseline = jnp.where(pulls > 0, average, reward) if config.baseline else jnp.zeros_like(reward)
        return preference_update(preferences, arm, reward, baseline, hparams.step_size)

    return BanditRule(select, init, learn)


SUMMARY = "Gradient bandit: softmax over preferences, average-reward baseline (Sutton & Barto 2.8)"
SPEC = register_bandit("gradient_bandit", SUMMARY, GradientBanditConfig, GradientBanditHParams, make_rule)
make_train, preset = SPEC.make_train, SPEC.preset
