"""Thompson sampling (Thompson, 1933, "On the likelihood that one unknown probability exceeds another in
view of the evidence of two samples", Biometrika 25): pull the arm whose mean, drawn from its posterior,
is highest.

Two conjugate posteriors, a static option:

- posterior="beta" (Bernoulli rewards; Agrawal & Goyal, 2012, "Analysis of Thompson sampling for the
  multi-armed bandit problem", COLT): prior Beta(alpha0, beta0), and after `n_a` pulls of arm `a` with
  reward sum `S_a` the posterior is

      Beta(alpha0 + S_a, beta0 + n_a - S_a).

  Rewards in `[0, 1]` count as fractional successes. A reward sum outside `[0, n_a]` (rewards outside
  `[0, 1]`) is clipped into it, so both parameters stay positive: a guard, not a model of such rewards
  (on `Probe-ActionReward-v0`, whose arms always pay -1 or +1, they read as all failures or successes).
- posterior="gaussian" (Gaussian rewards of known noise variance `sigma^2`; analysed by Agrawal & Goyal,
  2013, "Further optimal regret bounds for Thompson sampling", AISTATS): prior N(mu0, sigma0^2) on each
  mean, and the conjugate normal update (e.g. Murphy, 2007, "Conjugate Bayesian analysis of the Gaussian
  distribution", sec. 2) gives the posterior N(mean, 1 / precision) with

      precision = 1 / sigma0^2 + n_a / sigma^2,   mean = (mu0 / sigma0^2 + S_a / sigma^2) / precision.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl.agents.bandit import ArmStats, BanditConfig, BanditRule, register_bandit
from purerl.config import Positive, Real, one_of
from purerl.types import Array, PRNGKey


@dataclasses.dataclass(frozen=True)
class ThompsonConfig(BanditConfig):
    """Static Thompson-sampling options (besides `BanditConfig`'s).

    Attributes:
        posterior: "beta" (Beta-Bernoulli) or "gaussian" (Gaussian prior, known noise variance).
    """

    posterior: one_of("beta", "gaussian") = "beta"


class ThompsonHParams(NamedTuple):
    """Traced Thompson-sampling hyperparameters (the other posterior's fields are unused).

    Attributes:
        alpha0: Beta prior's pseudo-successes.
        beta0: Beta prior's pseudo-failures.
        mu0: Gaussian prior's mean of every arm's mean.
        sigma0: Gaussian prior's standard deviation.
        noise_std: the rewards' known noise standard deviation `sigma` (1 for `Bandit-Gaussian-v0`).
    """

    alpha0: Positive = 1.0
    beta0: Positive = 1.0
    mu0: Real = 0.0
    sigma0: Positive = 1.0
    noise_std: Positive = 1.0


def beta_posterior(stats: ArmStats, hparams: ThompsonHParams) -> tuple[Array, Array]:
    """`(alpha [..., K], beta [..., K])` of each arm's Beta posterior."""
    counts = stats.counts.astype(jnp.float32)
    successes = jnp.clip(stats.sums, 0.0, counts)
    return hparams.alpha0 + successes, hparams.beta0 + counts - successes


def gaussian_posterior(stats: ArmStats, hparams: ThompsonHParams) -> tuple[Array, Array]:
    """`(mean [..., K], std [..., K])` of each arm's Gaussian posterior over its mean."""
    prior_precision = 1.0 / hparams.sigma0**2
    noise_precision = 1.0 / hparams.noise_std**2
    precision = prior_precision + stats.counts.astype(jnp.float32) * noise_precision
    mean = (hparams.mu0 * prior_precision + stats.sums * noise_precision) / precision
    return mean, jax.lax.rsqrt(precision)


def log_gamma_sample(key: PRNGKey, shape_param: Array) -> Array:
    """`log G` for `G ~ Gamma(shape_param, 1)`, elementwise (`shape_param` > 0, any shape), float32.

    Marsaglia & Tsang (2000, "A simple method for generating gamma variables", ACM TOMS 26(3)): for
    `a >= 1`, with `d = a - 1/3`, `c = 1 / sqrt(9 d)`, propose `v = (1 + c x)^3` with `x ~ N(0, 1)` and
    accept `d v` if `v > 0` and `log u < x^2 / 2 + d - d v + d log v` (`u ~ U(0, 1)`); for `a < 1` draw
    `G(a + 1) U^(1/a)` (their sec. 6), in log space so tiny shapes do not underflow to 0.

    Every round proposes for the whole batch with one key and keeps the first accepted proposal of each
    element; rounds repeat until all are accepted (at least 95% are per round for `a >= 1`). This is
    about twice as fast on a CPU as `jax.random.gamma`, which splits a key per element and per round.
    """
    shape_param = jnp.asarray(shape_param, jnp.float32)
    boosted = shape_param < 1.0
    a = jnp.where(boosted, shape_param + 1.0, shape_param)
    d = a - 1.0 / 3.0
    c = jax.lax.rsqrt(9.0 * d)
    key_boost, key_rounds = jax.random.split(key)

    def pending(carry):
        _, accepted, _ = carry
        return ~jnp.all(accepted)

    def propose(carry):
        round_index, accepted, log_sample = carry
        key_x, key_u = jax.random.split(jax.random.fold_in(key_rounds, round_index))
        x = jax.random.normal(key_x, a.shape)
        u = jax.random.uniform(key_u, a.shape, minval=jnp.finfo(jnp.float32).tiny)
        v = (1.0 + c * x) ** 3
        log_v = jnp.log(jnp.maximum(v, jnp.finfo(jnp.float32).tiny))
        ok = (v > 0.0) & (jnp.log(u) < 0.5 * x**2 + d - d * v + d * log_v)
        log_sample = jnp.where(ok & ~accepted, jnp.log(d) + log_v, log_sample)
        return round_index + 1, accepted | ok, log_sample

    init = (jnp.zeros((), jnp.int32), jnp.zeros(a.shape, bool), jnp.zeros(a.shape, jnp.float32))
    _, _, log_sample = jax.lax.while_loop(pending, propose, init)
    u = jax.random.uniform(key_boost, a.shape, minval=jnp.finfo(jnp.float32).tiny)
    return jnp.where(boosted, log_sample + jnp.log(u) / shape_param, log_sample)


def sample_beta(key: PRNGKey, alpha: Array, beta: Array) -> Array:
    """`Beta(alpha, beta)` draws (same shapes), as `G_a / (G_a + G_b) = sigmoid(log G_a - log G_b)` of
    two independent Gamma draws (`log_gamma_sample`)."""
    key_a, key_b = jax.random.split(key)
    return jax.nn.sigmoid(log_gamma_sample(key_a, alpha) - log_gamma_sample(key_b, beta))


def make_rule(config: ThompsonConfig) -> BanditRule:
    """Thompson sampling's selection rule for `config.posterior`."""

    def select(key: PRNGKey, stats: ArmStats, own: Any, hparams: ThompsonHParams) -> Array:
        del own
        if config.posterior == "beta":
            alpha, beta = beta_posterior(stats, hparams)
            draws = sample_beta(key, alpha, beta)
        else:
            mean, std = gaussian_posterior(stats, hparams)
            draws = mean + std * jax.random.normal(key, mean.shape)
        # Continuous draws: ties have probability 0, so the first-index argmax is unbiased.
        return jnp.argmax(draws, axis=-1).astype(jnp.int32)

    return BanditRule(select)


SUMMARY = "Thompson sampling: Beta-Bernoulli or Gaussian (known noise) posterior draws, pull the best"
SPEC = register_bandit("thompson", SUMMARY, ThompsonConfig, ThompsonHParams, make_rule)
make_train, preset = SPEC.make_train, SPEC.preset
