"""What every algorithm shares for learning: the optimiser with its learning-rate schedule, one gradient
step, and shuffled minibatch epochs over a batch of data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from purerl.types import PRNGKey

# (params, batch) -> (loss, metrics): the loss every helper below differentiates.
LossFn = Callable[[Any, Any], tuple[jax.Array, dict[str, jax.Array]]]


def linear_decay(
    learning_rate: Any, decay_steps: int, hold_steps: int = 1, gate: Any = None
) -> Callable[[jax.Array], jax.Array]:
    """optax schedule decaying `learning_rate` linearly towards 0 over `decay_steps` optimiser steps.

        lr(count) = learning_rate * (1 - floor(count / hold_steps) * hold_steps / decay_steps)

    The rate is constant within each group of `hold_steps` steps (e.g. the minibatch steps of one PPO
    update, so the last update still uses `1 / num_updates` of the initial rate rather than 0); with
    `hold_steps = 1` it drops every step.

    Args:
        learning_rate: initial rate; may be a traced (swept) scalar.
        decay_steps: optimiser steps over which the rate reaches 0.
        hold_steps: steps the rate stays constant for.
        gate: optional traced 0/1 switch multiplying the decayed fraction: 1 gives the formula above
            bit for bit (`1 * x == x`), 0 the constant `learning_rate` (`1 - 0 == 1`).
    """

    def schedule(count: jax.Array) -> jax.Array:
        done = (count // hold_steps) * hold_steps
        if gate is None:
            return learning_rate * (1.0 - done / decay_steps)
        return learning_rate * (1.0 - gate * (done / decay_steps))

    return schedule


def gated_clip_by_global_norm(max_norm: Any, gate: Any) -> optax.GradientTransformation:
    """`optax.clip_by_global_norm(max_norm)` where the traced 0/1 `gate` is 1, the identity where it is 0.

    Both the clipped and the raw gradients are computed and one is selected, so either position is
    exactly the corresponding ungated optimiser (a huge `max_norm` would not be: inf norms still clip).
    """
    clip = optax.clip_by_global_norm(max_norm)

    def update(updates: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        clipped, state = clip.update(updates, state, params)
        on = jnp.asarray(gate) > 0.5
        return jax.tree.map(lambda c, u: jnp.where(on, c, u), clipped, updates), state

    return optax.GradientTransformation(clip.init, update)


def make_optimizer(
    learning_rate: Any,
    max_grad_norm: Any,
    *,
    decay_steps: int = 0,
    hold_steps: int = 1,
    kind: str = "adam",
    rmsprop_decay: Any = 0.99,
    eps: float = 1e-5,
    decay_gate: Any = None,
    clip_gate: Any = None,
) -> optax.GradientTransformation:
    """Global-norm clipping, then Adam or RMSProp, at a constant or linearly decayed rate.

    RMSProp follows A2C implementations (Tieleman & Hinton, 2012, with the PyTorch convention):
    `v <- decay * v + (1 - decay) * g^2`, step `-lr * g / (sqrt(v) + eps)`, `eps` outside the square root
    and `v` starting at 0 (optax's default puts `eps` inside the root).

    Args:
        learning_rate: initial rate (may be traced).
        max_grad_norm: global-norm clipping threshold (may be traced).
        decay_steps: decay linearly to 0 over this many optimiser steps (`linear_decay`); 0 = constant.
        hold_steps: optimiser steps per decay step (see `linear_decay`).
        kind: "adam" or "rmsprop".
        rmsprop_decay: RMSProp's squared-gradient averaging factor.
        eps: the optimiser's epsilon.
        decay_gate: optional traced 0/1 switch of the decay (`linear_decay`'s `gate`); needs `decay_steps`.
        clip_gate: optional traced 0/1 switch of the clipping (`gated_clip_by_global_norm`).
    """
    rate = linear_decay(learning_rate, decay_steps, hold_steps, decay_gate) if decay_steps else learning_rate
    if kind == "adam":
        inner = optax.adam(rate, eps=eps)
    elif kind == "rmsprop":
        inner = optax.rmsprop(rate, decay=rmsprop_decay, eps=eps, eps_in_sqrt=False)
    else:
        raise ValueError(f"optimizer kind must be 'adam' or 'rmsprop', got {kind!r}")
    if clip_gate is None:
        clip = optax.clip_by_global_norm(max_grad_norm)
    else:
        clip = gated_clip_by_global_norm(max_grad_norm, clip_gate)
    return optax.chain(clip, inner)


def gradient_step(
    tx: optax.GradientTransformation, loss_fn: LossFn, params: Any, opt_state: Any, batch: Any
) -> tuple[Any, Any, dict[str, jax.Array], Any]:
    """One optimiser step on `loss_fn(params, batch)`. Returns `(params, opt_state, metrics, grads)`."""
    grads, metrics = jax.grad(loss_fn, has_aux=True)(params, batch)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, metrics, grads


def minibatch_epochs(
    key: PRNGKey,
    tx: optax.GradientTransformation,
    loss_fn: LossFn,
    params: Any,
    opt_state: Any,
    data: Any,
    num_epochs: int,
    num_minibatches: int,
) -> tuple[Any, Any, dict[str, jax.Array]]:
    """`num_epochs` passes over `data`, each a fresh permutation cut into `num_minibatches` minibatches.

    Args:
        key: one permutation key per epoch is split from it.
        data: pytree with leaves `[N, ...]`; `num_minibatches` must divide `N`.

    Returns:
        `(params, opt_state, metrics)`, metrics averaged over every minibatch step.
    """
    size = jax.tree.leaves(data)[0].shape[0]
    minibatch_size = size // num_minibatches

    def epoch(carry, key):
        order = jax.random.permutation(key, size)
        minibatches = jax.tree.map(
            lambda x: x[order].reshape((num_minibatches, minibatch_size, *x.shape[1:])), data
        )

        def step(carry, batch):
            params, opt_state, metrics, _ = gradient_step(tx, loss_fn, *carry, batch)
            return (params, opt_state), metrics

        return jax.lax.scan(step, carry, minibatches)

    (params, opt_state), metrics = jax.lax.scan(epoch, (params, opt_state), jax.random.split(key, num_epochs))
    return params, opt_state, {k: v.mean() for k, v in metrics.items()}
