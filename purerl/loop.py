"""The generic training loop every agent plugs into.

An agent is four pure functions (`Agent`). The loop runs `eval_every` updates, then one evaluation: that
is a *block*. A whole run is `num_blocks` blocks in a `lax.scan`; the runner executes the same blocks in
chunks so the host can report progress and checkpoint between them, with identical results, because the
key of block `b` is `fold_in(loop_key, b)` whichever chunk runs it.

Evaluation sits at block boundaries (never behind a `lax.cond`, which `vmap` would turn into computing
both branches every iteration).
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
        init: `(key, hparams) -> state`.
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
            `[num_blocks]`.
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


def run_blocks(
    agent: Agent, state: Any, hparams: Any, loop_key: PRNGKey, block_indices: jax.Array
) -> tuple[Any, dict[str, jax.Array]]:
    """Run the blocks whose indices are given (`[K]` int32), in order. Metrics gain a leading `[K]`."""

    def body(state, index):
        return run_block(agent, state, hparams, jax.random.fold_in(loop_key, index))

    return jax.lax.scan(body, state, block_indices)


def split_run_key(key: PRNGKey) -> tuple[PRNGKey, PRNGKey]:
    """`key -> (init_key, loop_key)`: the one convention shared by `train` and the chunked runner."""
    init_key, loop_key = jax.random.split(key)
    return init_key, loop_key


def make_train_fn(agent: Agent) -> Callable[[PRNGKey, Any], TrainOutput]:
    """`train(key, hparams) -> TrainOutput` running every block in one `lax.scan`.

    Pure and unjitted: wrap it as `jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, hparams)`.
    """

    def train(key: PRNGKey, hparams: Any) -> TrainOutput:
        init_key, loop_key = split_run_key(key)
        state = agent.init(init_key, hparams)
        indices = jnp.arange(agent.num_blocks, dtype=jnp.int32)
        state, metrics = run_blocks(agent, state, hparams, loop_key, indices)
        return TrainOutput(state, metrics)

    return train
