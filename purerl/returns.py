"""Return and advantage estimators for one time-major trajectory segment.

Every estimator takes `[T]` arrays for a single stream and returns `[T]`; batch `[T, B]` data with
`batch_time_major(fn)`. One argument order everywhere: `(rewards, discounts, lambdas, values, ...)`.

Conventions (see DESIGN.md, "Estimators"):
    discounts_t:   `gamma * (1 - terminated_t)`, so nothing is bootstrapped after a terminal state.
    next_values_t: `V(final_obs_t)`, the value of the observation reached by transition `t` *before*
                   auto-reset. A truncated step therefore bootstraps from its true next state, never
                   from the first state of the next episode.
    ends_t:        `terminated_t | truncated_t` (bool). The trace is cut after step `t`, so nothing from
                   the next episode leaks back. The last step of the segment is always treated as cut;
                   it bootstraps through `next_values_{T-1}`.

All computation is float32, loops over time are `jax.lax.scan(..., reverse=True)`, and every function is
jit-able and vmappable. Gradients are *not* stopped here: callers compute targets outside the loss (or
wrap them in `jax.lax.stop_gradient`) as the house convention says.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp

from purerl.types import Array

__all__ = [
    "batch_time_major",
    "discounted_returns",
    "gae",
    "lambda_returns",
    "n_step_returns",
]


def batch_time_major(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Lifts a single-stream `[T]` estimator to time-major batches `[T, B]`.

    Equivalent to `jax.vmap(fn, in_axes=1, out_axes=1)`, except that positional arguments with fewer than
    two dimensions (a scalar `lambdas`, a `[T]` array shared by every column, a Python int, `None`) are
    passed unbatched. Keyword arguments are always passed unbatched: use them for static options such as
    `n` of `n_step_returns`, and pass `[T, B]` arrays positionally.

    Example:
        `advantages = batch_time_major(gae)(rewards, discounts, lam, values, next_values, ends)` with
        `[T, B]` arrays and a scalar `lam` gives `[T, B]` advantages.

    Args:
        fn: function of `[T]` arrays returning a pytree of `[T]` arrays.

    Returns:
        The batched function; its outputs have shape `[T, B]`.
    """

    @functools.wraps(fn)
    def batched(*args: Any, **kwargs: Any) -> Any:
        in_axes = tuple(1 if jnp.ndim(arg) >= 2 else None for arg in args)
        return jax.vmap(functools.partial(fn, **kwargs), in_axes=in_axes, out_axes=1)(*args)

    return batched


def _as_f32(x: Any) -> Array:
    return jnp.asarray(x, dtype=jnp.float32)


def _cuts(ends: Array) -> Array:
    """`[T]` bool: the trace stops after step t (episode end, or the segment's last step)."""
    return jnp.asarray(ends, dtype=bool).at[-1].set(True)


def _continuations(ends: Array, lambdas: Any, num_steps: int) -> Array:
    """`[T]` float32 `l_t = lambdas_t * (1 - cut_t)`: weight of the rest of the trace in the return at t."""
    lambdas = jnp.broadcast_to(_as_f32(lambdas), (num_steps,))
    return lambdas * (1.0 - _cuts(ends).astype(jnp.float32))


def _check_inputs(*arrays: Array) -> None:
    arrays = tuple(jnp.asarray(x) for x in arrays)
    chex.assert_rank(arrays, 1)
    chex.assert_equal_shape(arrays)


# Scan bodies live at module level (not as closures) so that repeated eager calls reuse JAX's trace cache.


def _gae_step(advantage_tp1: Array, xs: tuple[Array, Array, Array]) -> tuple[Array, Array]:
    delta_t, discount_t, continuation_t = xs
    advantage_t = delta_t + discount_t * continuation_t * advantage_tp1
    return advantage_t, advantage_t


def _lambda_return_step(return_tp1: Array, xs: tuple[Array, Array, Array, Array]) -> tuple[Array, Array]:
    reward_t, discount_t, next_value_t, continuation_t = xs
    return_t = reward_t + discount_t * ((1.0 - continuation_t) * next_value_t + continuation_t * return_tp1)
    return return_t, return_t


def _n_step_step(returns_tp1: Array, xs: tuple[Array, Array, Array, Array]) -> tuple[Array, Array]:
    # returns_tp1[k - 1] = G^{(k)}_{t+1} for k = 1..n; prepend G^{(0)}_{t+1} = next_value_t.
    reward_t, discount_t, next_value_t, cut_t = xs
    shorter_tp1 = jnp.concatenate([next_value_t[None], returns_tp1[:-1]])
    returns_t = reward_t + discount_t * jnp.where(cut_t, next_value_t, shorter_tp1)
    return returns_t, returns_t[-1]


def gae(
    rewards: Array,
    discounts: Array,
    lambdas: Array | float,
    values: Array,
    next_values: Array,
    ends: Array,
) -> Array:
    """Generalized advantage estimation (Schulman et al. 2016, "High-Dimensional Continuous Control Using
    Generalized Advantage Estimation", sec. 3), with terminations and truncations kept apart.

        delta_t = r_t + discounts_t * next_values_t - values_t
        A_t     = delta_t + discounts_t * lambdas_t * (1 - ends_t) * A_{t+1},   A_T = 0.

    The segment's last step is cut as well: its advantage is the one-step `delta_{T-1}`, which
    bootstraps through `next_values_{T-1}`.

    Args:
        rewards: `[T]` reward of transition `t`.
        discounts: `[T]` `gamma * (1 - terminated_t)`.
        lambdas: scalar or `[T]` trace-decay parameter.
        values: `[T]` `V(obs_t)`, value of the state the action was taken in.
        next_values: `[T]` `V(final_obs_t)`, value of the state reached before auto-reset.
        ends: `[T]` bool, `terminated_t | truncated_t`.

    Returns:
        `[T]` float32 advantages. Value targets are `advantages + values` (equal to `lambda_returns`
        when `next_values_t == values_{t+1}` inside every episode).
    """
    rewards, discounts, values, next_values = map(_as_f32, (rewards, discounts, values, next_values))
    _check_inputs(rewards, discounts, values, next_values, ends)
    num_steps = rewards.shape[0]
    continuations = _continuations(ends, lambdas, num_steps)
    deltas = rewards + discounts * next_values - values

    _, advantages = jax.lax.scan(
        _gae_step, jnp.zeros((), jnp.float32), (deltas, discounts, continuations), reverse=True
    )
    return advantages


def lambda_returns(
    rewards: Array,
    discounts: Array,
    lambdas: Array | float,
    next_values: Array,
    ends: Array,
) -> Array:
    """TD(lambda) targets: the recursive lambda-return with per-step lambda and discount (Sutton & Barto
    2018, "Reinforcement Learning: An Introduction", 2nd ed., sec. 12.1 and 12.8).

        l_t = lambdas_t * (1 - ends_t),   l_{T-1} = 0
        G_t = r_t + discounts_t * ((1 - l_t) * next_values_t + l_t * G_{t+1})

    `lambdas = 0` gives one-step TD targets `r_t + discounts_t * next_values_t`. `lambdas = 1` gives the
    discounted Monte-Carlo return inside each episode; `next_values` then matters only where the trace is
    cut: at truncated steps (where it supplies the bootstrap `V(final_obs_t)`) and at the segment's last
    step (terminated steps have `discounts_t = 0`). With `next_values = 0` as well it is the plain
    in-episode Monte-Carlo return.

    Args:
        rewards: `[T]` reward of transition `t`.
        discounts: `[T]` `gamma * (1 - terminated_t)`.
        lambdas: scalar or `[T]` trace-decay parameter.
        next_values: `[T]` `V(final_obs_t)`, value of the state reached before auto-reset.
        ends: `[T]` bool, `terminated_t | truncated_t`.

    Returns:
        `[T]` float32 lambda-returns.
    """
    rewards, discounts, next_values = map(_as_f32, (rewards, discounts, next_values))
    _check_inputs(rewards, discounts, next_values, ends)
    num_steps = rewards.shape[0]
    continuations = _continuations(ends, lambdas, num_steps)

    # The initial carry is never used: the last step has continuation 0.
    _, returns = jax.lax.scan(
        _lambda_return_step,
        jnp.zeros((), jnp.float32),
        (rewards, discounts, next_values, continuations),
        reverse=True,
    )
    return returns


def n_step_returns(
    rewards: Array,
    discounts: Array,
    next_values: Array,
    ends: Array,
    n: int,
) -> Array:
    """n-step bootstrapped returns, stopped at episode and segment ends (Sutton & Barto 2018, sec. 7.1).

        G_t = sum_{k<m} (prod_{j<k} discounts_{t+j}) r_{t+k}
              + (prod_{j<m} discounts_{t+j}) next_values_{t+m-1}

    where `m = min(n, steps to the end of t's episode inside the segment (end step included), steps to the
    end of the segment)`. Computed by one reverse scan whose carry holds `G^{(1..n)}_{t+1}`, using
    `G^{(k)}_t = r_t + discounts_t * (next_values_t if cut_t else G^{(k-1)}_{t+1})` and
    `G^{(0)}_{t+1} = next_values_t`: O(n T) work, no Python loop over `T`.

    Args:
        rewards: `[T]` reward of transition `t`.
        discounts: `[T]` `gamma * (1 - terminated_t)`.
        next_values: `[T]` `V(final_obs_t)`, value of the state reached before auto-reset.
        ends: `[T]` bool, `terminated_t | truncated_t`.
        n: static number of steps, `n >= 1`.

    Returns:
        `[T]` float32 n-step returns.

    Raises:
        ValueError: if `n` is not a positive Python int.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    rewards, discounts, next_values = map(_as_f32, (rewards, discounts, next_values))
    _check_inputs(rewards, discounts, next_values, ends)
    cut = _cuts(ends)

    # The initial carry is never used: the last step is always cut.
    _, returns = jax.lax.scan(
        _n_step_step, jnp.zeros((n,), jnp.float32), (rewards, discounts, next_values, cut), reverse=True
    )
    return returns


def discounted_returns(
    rewards: Array,
    discounts: Array,
    ends: Array,
    bootstrap: Array | None = None,
) -> Array:
    """Discounted Monte-Carlo returns inside each episode: `lambda_returns` with `lambdas = 1`.

        G_t = r_t + discounts_t * (G_{t+1} if not cut_t else bootstrap_t)

    Args:
        rewards: `[T]` reward of transition `t`.
        discounts: `[T]` `gamma * (1 - terminated_t)`.
        ends: `[T]` bool, `terminated_t | truncated_t`.
        bootstrap: optional `[T]` next values `V(final_obs_t)`. Only used where the episode is truncated
            or the segment ends (terminated steps have discount 0, other steps follow the trace);
            `None` means 0 there, i.e. the plain sum of discounted rewards up to the cut.

    Returns:
        `[T]` float32 returns.
    """
    if bootstrap is None:
        bootstrap = jnp.zeros(jnp.shape(rewards), jnp.float32)
    return lambda_returns(rewards, discounts, 1.0, bootstrap, ends)
