"""UCB1 (Auer, Cesa-Bianchi & Fischer, 2002, "Finite-time analysis of the multiarmed bandit problem",
Machine Learning 47, Fig. 1): optimism in the face of uncertainty.

Each arm is pulled once first (an arm never pulled has index +inf; ties at random); then pull

    argmax_a  mean_a + sqrt(c * ln t / n_a)

with `t` the pulls made so far in this environment instance and `n_a` those of arm `a`. `c = 2` is UCB1
as published, whose expected regret after `n` pulls of rewards in `[0, 1]` is at most
`8 sum_{a: Delta_a > 0} ln n / Delta_a + (1 + pi^2 / 3) sum_a Delta_a` (their Theorem 1).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax.numpy as jnp

from purerl.agents.bandit import ArmStats, BanditConfig, BanditRule, argmax_random_ties, register_bandit
from purerl.config import Positive
from purerl.types import Array, PRNGKey


@dataclasses.dataclass(frozen=True)
class UCB1Config(BanditConfig):
    """Static UCB1 options: only `BanditConfig`'s (its own class, so a config names its algorithm)."""


class UCB1HParams(NamedTuple):
    """Traced UCB1 hyperparameters.

    Attributes:
        c: exploration coefficient of the bonus `sqrt(c ln t / n_a)` (2 in Auer et al., 2002).
    """

    c: Positive = 2.0


def ucb_indices(stats: ArmStats, c: Any) -> Array:
    """`[..., K]` UCB1 indices `mean_a + sqrt(c ln t / n_a)`; +inf for arms never pulled."""
    pulls = stats.pulls().astype(jnp.float32)
    counts = stats.counts.astype(jnp.float32)
    bonus = jnp.sqrt(c * jnp.log(jnp.maximum(pulls, 1.0)) / jnp.maximum(counts, 1.0))
    return jnp.where(stats.counts > 0, stats.means() + bonus, jnp.inf)


def make_rule(config: UCB1Config) -> BanditRule:
    """UCB1's selection rule (it has no options of its own)."""
    del config

    def select(key: PRNGKey, stats: ArmStats, own: Any, hparams: UCB1HParams) -> Array:
        del own
        return argmax_random_ties(key, ucb_indices(stats, hparams.c))

    return BanditRule(select)


SUMMARY = "UCB1: each arm once, then the highest mean + sqrt(c ln t / n) (Auer et al., 2002)"
SPEC = register_bandit("ucb1", SUMMARY, UCB1Config, UCB1HParams, make_rule)
make_train, preset = SPEC.make_train, SPEC.preset
