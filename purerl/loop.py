"""The generic training loop every agent plugs into.

An agent is four pure functions (`Agent`). The loop runs `eval_every` updates, then one evaluation: that
is a *block*. A whole run is `num_blocks` blocks in a `lax.scan`; the runner executes the same blocks in
chunks so the host can report progress and checkpoint between them, with identical results, because the
key of block `b` is `fold_in(loop_key, b)` whichever chunk runs it.

Evaluation sits at block boundaries (never behind a `lax.cond`, which `vmap` would turn into computing
both branches every iteration).

Every block ends with a finite-check: a seed whose state or metrics hold a NaN or inf is *frozen* (it
keeps its last finite state for the rest of the run, its later metrics are NaN) and `metrics["healthy"]`
records it, so one diverged seed never spoils the statistics of the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl.types import PRNGKey


class Agent(NamedTuple):
    """An algorithm, as pure functions of one seed and one hyperparameter setting.

    Attributes:
        init: `(key, hparams, *init_args) -> state`; agents may take optional extra arguments with
            per-seed data, e.g. PPO's bootstrap `init_params` or BC's demonstration dataset.
        update: `(state, hparams, key) -> (state, metrics)`: one iteration (collect + learn);
            `metrics` is a dict of scalars.
        evaluate: `(state, hparams, key) -> metrics`: evaluation episodes; must include
            `"eval_return"` (mean undiscounted return of the evaluation episodes).
        num_blocks: number of blocks in a full run.
        eval_every: updates per block.
        env_steps_per_update: environment steps one `update` consumes (for throughput accounting).
    """

    init: Callable[[PRNGKey, Any], Any]
    update: Callable[[Any, Any, PRNGKey], tuple[Any, dict[str, jax.Array]]]
    evaluate: Callable[[Any, Any, PRNGKey], dict[str, jax.Array]]
    num_blocks: int
    eval_every: int
    env_steps_per_update: int

    @property
    def num_updates(self) -> int:
        return self.num_blocks * self.eval_every

    @property
    def total_env_steps(self) -> int:
        return self.num_updates * self.env_steps_per_update


class TrainOutput(NamedTuple):
    """What `train` returns for one seed (leading `[seed]` / `[hparam]` axes when vmapped).

    Attributes:
        state: the final training state (params, optimiser state, env state, ...).
        metrics: dict; per-update metrics have shape `[num_blocks, eval_every]`, evaluation metrics
            `[num_blocks]`; `metrics["healthy"]` (`[num_blocks]` bool) is False from the block in which
            the seed stopped being finite (see `run_blocks`).
    """

    state: Any
    metrics: dict[str, jax.Array]


def run_block(agent: Agent, state: Any, hparams: Any, key: PRNGKey) -> tuple[Any, dict[str, jax.Array]]:
    """`eval_every` updates followed by one evaluation."""
    keys = jax.random.split(key, agent.eval_every + 1)

    def update(state, k):
        return agent.update(state, hparams, k)

    state, train_metrics = jax.lax.scan(update, state, keys[:-1])
    eval_metrics = agent.evaluate(state, hparams, keys[-1])
    return state, {**train_metrics, **eval_metrics}


def all_finite(tree: Any) -> jax.Array:
    """Bool scalar: no floating-point leaf of `tree` holds a NaN or an inf (other leaves are ignored)."""
    checks = [
        jnp.all(jnp.isfinite(leaf))
        for leaf in jax.tree.leaves(tree)
        if jnp.issubdtype(getattr(leaf, "dtype", jnp.float32), jnp.inexact)
    ]
    return jnp.all(jnp.stack(checks)) if checks else jnp.asarray(True)


def _freeze(healthy: jax.Array, new: Any, old: Any) -> Any:
    # `lax.select` rather than `jnp.where`: it also accepts typed PRNG-key leaves.
    return jax.tree.map(lambda n, o: jax.lax.select(jnp.broadcast_to(healthy, jnp.shape(n)), n, o), new, old)


def run_blocks(
    agent: Agent,
    carry: tuple[Any, jax.Array],
    hparams: Any,
    loop_key: PRNGKey,
    block_indices: jax.Array,
) -> tuple[tuple[Any, jax.Array], dict[str, jax.Array]]:
    """Run the blocks whose indices are given (`[K]` int32), in order, guarding against divergence.

    Args:
        carry: `(state, healthy)`; `healthy` is a bool scalar (True at the start of a run).

    Returns:
        `((state, healthy), metrics)`; metrics gain a leading `[K]` and a `"healthy"` entry `[K]`.
        After a block whose new state or metrics are not all finite, `healthy` is False for good, the
        state stays at its last finite value (checked per block, not per update, so the check costs
        one pass over the state per `eval_every` updates) and floating-point metrics are NaN.
        Freezing keeps the previous state alive during the block, so a block holds two copies of the
        state (replay buffers included) at its end.
    """

    def body(carry, index):
        state, healthy = carry
        new_state, metrics = run_block(agent, state, hparams, jax.random.fold_in(loop_key, index))
        healthy = healthy & all_finite(new_state) & all_finite(metrics)
        metrics = {
            name: jnp.where(healthy, value, jnp.nan) if jnp.issubdtype(value.dtype, jnp.inexact) else value
            for name, value in metrics.items()
        }
        return (_freeze(healthy, new_state, state), healthy), {**metrics, "healthy": healthy}

    return jax.lax.scan(body, carry, block_indices)


def split_run_key(key: PRNGKey) -> tuple[PRNGKey, PRNGKey]:
    """`key -> (init_key, loop_key)`: the one convention shared by `train` and the chunked runner."""
    init_key, loop_key = jax.random.split(key)
    return init_key, loop_key


def make_train_fn(agent: Agent) -> Callable[..., TrainOutput]:
    """`train(key, hparams, *init_args) -> TrainOutput` running every block in one `lax.scan`.

    Pure and unjitted: wrap it as `jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, hparams)`.
    `init_args` are passed on to `agent.init` (vmap them with `in_axes=0` for per-seed data).
    """

    def train(key: PRNGKey, hparams: Any, *init_args: Any) -> TrainOutput:
        init_key, loop_key = split_run_key(key)
        state = agent.init(init_key, hparams, *init_args)
        indices = jnp.arange(agent.num_blocks, dtype=jnp.int32)
        (state, _), metrics = run_blocks(agent, (state, jnp.asarray(True)), hparams, loop_key, indices)
        return TrainOutput(state, metrics)

    return train
