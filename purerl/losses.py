"""Losses shared by agents. Each takes flat batches `[N]` and returns a scalar plus diagnostics.

Targets (advantages, returns) are computed outside the gradient by the caller.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def normalize(x: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Standardise `[N]` to zero mean and unit standard deviation."""
    return (x - x.mean()) / (x.std() + eps)


def masked_mean(x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Mean of `x` `[N]` over the entries where `mask` `[N]` (bool or 0/1) is set; 0 if none is.

    `mask=None` is the plain mean.
    """
    if mask is None:
        return jnp.mean(x)
    mask = mask.astype(x.dtype)
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def masked_normalize(x: jax.Array, mask: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Standardise `x` `[N]` with the mean and standard deviation of its masked entries.

    Entries outside the mask are set to 0, so they can never leak a large value into a loss.
    """
    mean = masked_mean(x, mask)
    std = jnp.sqrt(masked_mean((x - mean) ** 2, mask))
    return jnp.where(mask, (x - mean) / (std + eps), 0.0)


def policy_gradient_loss(
    log_prob: jax.Array, advantages: jax.Array, mask: jax.Array | None = None
) -> jax.Array:
    """Score-function (REINFORCE) surrogate of Williams (1992), negated for minimisation.

        L = -sum_i m_i A_i log pi(a_i | s_i) / sum_i m_i,   grad L = -E_m[A grad log pi(a|s)]

    Its gradient is the likelihood-ratio policy gradient (Williams, 1992, "Simple statistical
    gradient-following algorithms for connectionist reinforcement learning"; Sutton et al., 2000)
    with `A` a return, a return minus a baseline, or an advantage estimate. `A` is held constant
    (`stop_gradient`), so a learned baseline inside it receives no policy gradient.

    Args:
        log_prob: `[N]` log pi(a|s) under the parameters being differentiated.
        advantages: `[N]` weights of the score function.
        mask: optional `[N]` bool (or 0/1): entries to average over; `None` uses every entry.

    Returns:
        Scalar loss.
    """
    return -masked_mean(log_prob * jax.lax.stop_gradient(advantages), mask)


def ppo_policy_loss(
    log_prob: jax.Array,
    old_log_prob: jax.Array,
    advantages: jax.Array,
    clip_eps: jax.Array,
    clip: jax.Array | float | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """PPO clipped surrogate (Schulman et al., 2017, eq. 7), negated for minimisation.

    L = -E[min(r A, clip(r, 1 - eps, 1 + eps) A)],  r = exp(log_prob - old_log_prob).

    Args:
        log_prob: `[N]` log pi(a|s) under the current parameters.
        old_log_prob: `[N]` log pi_old(a|s) recorded at collection time.
        advantages: `[N]` advantage estimates (already normalised if desired).
        clip_eps: clipping range.
        clip: optional traced 0/1 switch (an ablation's gate): at 0 the clipping range is infinite,
            so the clipped ratio is the ratio itself and the loss is the unclipped surrogate `-E[r A]`
            (Kakade & Langford, 2002; Schulman et al., 2017, eq. 6) in value and gradient (`min` splits
            a tie's gradient into halves, which add up exactly; clip_fraction reads 0); at 1, or None,
            the clipped surrogate.

    Returns:
        `(loss, {"clip_fraction", "approx_kl"})`; approx_kl is the low-variance estimator
        E[(r - 1) - log r] (Schulman, 2020, "Approximating KL divergence").
    """
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    unclipped = ratio * advantages
    if clip is not None:  # off: infinite bounds, so the clip below is exactly the identity
        clip_eps = jnp.where(jnp.asarray(clip) > 0.5, clip_eps, jnp.inf)
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


def ensemble_td_loss(q_values: jax.Array, targets: jax.Array) -> jax.Array:
    """Regression of an ensemble of Q critics to one shared target (twin critics of TD3 / SAC).

    L = sum_k 0.5 * E[(Q_k - y)^2]: each critic is fitted separately (summing keeps each critic's
    gradient that of its own MSE, whatever the ensemble size).

    Args:
        q_values: `[K, N]` predictions of the `K` critics.
        targets: `[N]` targets (computed outside the gradient).

    Returns:
        Scalar loss.
    """
    return 0.5 * jnp.sum(jnp.mean((q_values - targets[None]) ** 2, axis=-1))


def huber_loss(predictions: jax.Array, targets: jax.Array, delta: float = 1.0) -> jax.Array:
    """Mean Huber loss (Huber, 1964): quadratic within `delta` of the target, linear outside.

        l(x) = 0.5 x^2 if |x| <= delta else delta (|x| - 0.5 delta),   x = prediction - target

    Its gradient is the TD error clipped to `[-delta, delta]`, the error clipping of DQN (Mnih et al.,
    2015, "Methods: Training algorithm for deep Q-networks").
    """
    abs_error = jnp.abs(predictions - targets)
    quadratic = jnp.minimum(abs_error, delta)
    return jnp.mean(0.5 * quadratic**2 + delta * (abs_error - quadratic))
