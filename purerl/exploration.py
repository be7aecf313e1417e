"""Exploration helpers shared by value-based agents: epsilon-greedy action selection and schedules."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from purerl.types import PRNGKey

__all__ = ["epsilon_greedy", "linear_schedule"]


def linear_schedule(start: Any, end: Any, duration: Any, count: Any) -> jax.Array:
    """Linear interpolation from `start` to `end` over `duration` counts, then constant at `end`.

        value(count) = start + min(count / duration, 1) * (end - start)

    Every argument may be traced (e.g. swept hyperparameters). A `duration <= 0` gives `end` at once.

    Returns:
        float32 scalar (or the broadcast shape of the arguments).
    """
    duration = jnp.asarray(duration, jnp.float32)
    fraction = jnp.where(
        duration > 0, jnp.clip(jnp.asarray(count, jnp.float32) / jnp.maximum(duration, 1e-8), 0.0, 1.0), 1.0
    )
    return jnp.asarray(start, jnp.float32) + fraction * (jnp.asarray(end, jnp.float32) - start)


def epsilon_greedy(key: PRNGKey, q_values: jax.Array, epsilon: Any) -> jax.Array:
    """With probability `epsilon` a uniformly random action, otherwise `argmax_a q_values`.

    Each row draws independently. The random branch may pick the greedy action too, so the greedy
    action's probability is `1 - epsilon + epsilon / A` (the usual convention, Sutton & Barto 2018,
    sec. 5.4).

    Args:
        key: PRNG key.
        q_values: `[..., A]` action values.
        epsilon: scalar (may be traced) or an array broadcastable to `q_values.shape[:-1]`.

    Returns:
        `[...]` int32 actions.
    """
    key_explore, key_action = jax.random.split(key)
    batch_shape = q_values.shape[:-1]
    greedy = jnp.argmax(q_values, axis=-1).astype(jnp.int32)
    random = jax.random.randint(key_action, batch_shape, 0, q_values.shape[-1], dtype=jnp.int32)
    explore = jax.random.uniform(key_explore, batch_shape) < epsilon
    return jnp.where(explore, random, greedy)
