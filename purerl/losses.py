"""Losses shared by agents. Each takes flat batches `[N]` and returns a scalar plus diagnostics.

Targets (advantages, returns) are computed outside the gradient by the caller.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def normalize(x: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Standardise `[N]` to zero mean and unit standard deviation."""
    return (x - x.mean()) / (x.std() + eps)


def ppo_policy_loss(
    log_prob: jax.Array, old_log_prob: jax.Array, advantages: jax.Array, clip_eps: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """PPO clipped surrogate (Schulman et al., 2017, eq. 7), negated for minimisation.

    L = -E[min(r A, clip(r, 1 - eps, 1 + eps) A)],  r = exp(log_prob - old_log_prob).

    Args:
        log_prob: `[N]` log pi(a|s) under the current parameters.
        old_log_prob: `[N]` log pi_old(a|s) recorded at collection time.
        advantages: `[N]` advantage estimates (already normalised if desired).
        clip_eps: clipping range.

    Returns:
        `(loss, {"clip_fraction", "approx_kl"})`; approx_kl is the low-variance estimator
        E[(r - 1) - log r] (Schulman, 2020, "Approximating KL divergence").
    """
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    loss = -jnp.mean(jnp.minimum(unclipped, clipped))
    clip_fraction = jnp.mean((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32))
    approx_kl = jnp.mean((ratio - 1.0) - log_ratio)
    return loss, {"clip_fraction": clip_fraction, "approx_kl": approx_kl}


def clipped_value_loss(
    values: jax.Array, old_values: jax.Array, targets: jax.Array, clip_eps: jax.Array
) -> jax.Array:
    """PPO value loss with the value-clipping of the reference implementation (baselines ppo2):

    0.5 * E[max((v - G)^2, (v_old + clip(v - v_old, -eps, eps) - G)^2)].
    """
    clipped = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
    return 0.5 * jnp.mean(jnp.maximum((values - targets) ** 2, (clipped - targets) ** 2))


def mse_loss(predictions: jax.Array, targets: jax.Array) -> jax.Array:
    """0.5 * E[(prediction - target)^2]."""
    return 0.5 * jnp.mean((predictions - targets) ** 2)


def huber_loss(predictions: jax.Array, targets: jax.Array, delta: float = 1.0) -> jax.Array:
    """Mean Huber loss (Huber, 1964): quadratic within `delta` of the target, linear outside.

        l(x) = 0.5 x^2 if |x| <= delta else delta (|x| - 0.5 delta),   x = prediction - target

    Its gradient is the TD error clipped to `[-delta, delta]`, the error clipping of DQN (Mnih et al.,
    2015, "Methods: Training algorithm for deep Q-networks").
    """
    abs_error = jnp.abs(predictions - targets)
    quadratic = jnp.minimum(abs_error, delta)
    return jnp.mean(0.5 * quadratic**2 + delta * (abs_error - quadratic))
