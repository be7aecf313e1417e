"""Epsilon-greedy for multi-armed bandits, with a fixed or a decaying exploration rate.

At pull `t` (1-based, counted per environment instance) the agent pulls a uniformly random arm with
probability `epsilon_t`, else the arm with the highest sample-average reward `Q_t(a)` (ties broken at
random; an arm never pulled has `Q = 0`), Sutton & Barto (2018, sec. 2.2-2.4):

    schedule="fixed":   epsilon_t = epsilon
    schedule="decay":   epsilon_t = min(1, c / t)

The decaying schedule is Auer, Cesa-Bianchi & Fischer (2002, "Finite-time analysis of the multiarmed
bandit problem", Machine Learning 47, sec. 3, epsilon_n-GREEDY), who set `c = c' K / d^2` for `K` arms and
a lower bound `d` on the gap between the best and the second-best arm, and show logarithmic regret for
`c' > 5`; here `c` is one swept number. A fixed `epsilon` explores forever and so has linear regret.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl.agents.bandit import ArmStats, BanditConfig, BanditRule, argmax_random_ties, register_bandit
from purerl.config import Positive, Unit, one_of
from purerl.types import Array, PRNGKey


@dataclasses.dataclass(frozen=True)
class EpsilonGreedyConfig(BanditConfig):
    """Static epsilon-greedy options (besides `BanditConfig`'s).

    Attributes:
        schedule: "fixed" (`epsilon_t = epsilon`) or "decay" (`epsilon_t = min(1, c / t)`).
    """

    schedule: one_of("fixed", "decay") = "fixed"


class EpsilonGreedyHParams(NamedTuple):
    """Traced epsilon-greedy hyperparameters.

    Attributes:
        epsilon: exploration rate of `schedule="fixed"` (unused by "decay").
        c: numerator of `schedule="decay"`: `epsilon_t = min(1, c / t)`, the first `c` pulls explore
            (unused by "fixed").
    """

    epsilon: Unit = 0.1
    c: Positive = 50.0


def exploration_rate(config: EpsilonGreedyConfig, hparams: EpsilonGreedyHParams, t: Array) -> Array:
    """`epsilon_t` of pull `t` (1-based), float32 of the shape of `t`."""
    if config.schedule == "fixed":
        return jnp.broadcast_to(jnp.asarray(hparams.epsilon, jnp.float32), jnp.shape(t))
    return jnp.minimum(1.0, hparams.c / jnp.asarray(t, jnp.float32))


def make_rule(config: EpsilonGreedyConfig) -> BanditRule:
    """Epsilon-greedy's selection rule for `config.schedule`."""

    def select(key: PRNGKey, stats: ArmStats, own: Any, hparams: EpsilonGreedyHParams) -> Array:
        del own
        key_explore, key_arm, key_tie = jax.random.split(key, 3)
        num_arms = stats.counts.shape[-1]
        batch = stats.counts.shape[:-1]
        epsilon = exploration_rate(config, hparams, stats.pulls()[..., 0] + 1)
        random_arm = jax.random.randint(key_arm, batch, 0, num_arms, jnp.int32)
        greedy_arm = argmax_random_ties(key_tie, stats.means())
        return jnp.where(jax.random.uniform(key_explore, batch) < epsilon, random_arm, greedy_arm)

    return BanditRule(select)


SUMMARY = "Bandit epsilon-greedy on sample averages: fixed epsilon or epsilon_t = min(1, c / t)"
SPEC = register_bandit("bandit_epsilon_greedy", SUMMARY, EpsilonGreedyConfig, EpsilonGreedyHParams, make_rule)
make_train, preset = SPEC.make_train, SPEC.preset
