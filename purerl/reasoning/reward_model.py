"""A learned reward model: the stand-in for a verifier when only a limited set of labelled completions
exists (as with human preference or correctness labels).

The model is the policy's transformer architecture with a scalar head on the last position of
`prompt + completion` (completions are padded after EOS, so the last position has seen all of it),
trained by binary cross-entropy on `(prompt, completion, correct?)` triples. `grpo` with
`reward="model"` uses `sigmoid(score)` as the reward: the "proxy" that hard optimisation can exploit.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from purerl.config import NonNegative, Positive
from purerl.learn import gradient_step, make_optimizer
from purerl.reasoning import transformer
from purerl.types import PRNGKey


class Labelled(NamedTuple):
    """Labelled completions: `prompts [M, P]`, `completions [M, L]` int32 and `labels [M]` float32 (1 =
    correct)."""

    prompts: jax.Array
    completions: jax.Array
    labels: jax.Array


class RewardModelHParams(NamedTuple):
    """Traced reward-model hyperparameters (sweepable).

    Attributes:
        learning_rate: Adam step size (constant).
        max_grad_norm: global-norm gradient clipping.
        weight_decay: L2 penalty on every weight, against memorising the small labelled set.
    """

    learning_rate: Positive = 1e-3
    max_grad_norm: Positive = 1.0
    weight_decay: NonNegative = 0.0


def init(key: PRNGKey, model: transformer.TransformerConfig) -> dict[str, Any]:
    """`{"trunk": transformer params, "head": {"w": [d_model], "b": []}}` (head at 0: scores start at 0)."""
    return {
        "trunk": transformer.init_params(key, model),
        "head": {"w": jnp.zeros((model.d_model,)), "b": jnp.zeros(())},
    }


def score(params: dict[str, Any], model: transformer.TransformerConfig, prompts: jax.Array, completions):
    """`[N]` logits that `completions [N, L]` answer `prompts [N, P]` correctly."""
    tokens = jnp.concatenate([prompts, completions], axis=-1)
    last = transformer.features(params["trunk"], model, tokens)[:, -1]
    return last @ params["head"]["w"] + params["head"]["b"]


def accuracy(params: dict[str, Any], model: transformer.TransformerConfig, data: Labelled) -> jax.Array:
    """Fraction of `data` the model classifies right (score > 0 means "correct")."""
    predicted = score(params, model, data.prompts, data.completions) > 0
    return (predicted == (data.labels > 0.5)).mean()


def train(
    key: PRNGKey,
    model: transformer.TransformerConfig,
    hparams: RewardModelHParams,
    data: Labelled,
    num_steps: int,
    batch_size: int,
) -> tuple[dict[str, Any], dict[str, jax.Array]]:
    """Fit a reward model to `data` by `num_steps` Adam steps on random minibatches of `batch_size`.

    Pure: jit and vmap it over keys and per-seed `data`. Returns `(params, metrics)`, metrics `[num_steps]`
    ("loss": minibatch binary cross-entropy).
    """
    init_key, loop_key = jax.random.split(key)
    params = init(init_key, model)
    tx = make_optimizer(hparams.learning_rate, hparams.max_grad_norm)
    size = data.labels.shape[0]

    def loss_fn(params, batch: Labelled):
        logits = score(params, model, batch.prompts, batch.completions)
        loss = optax.sigmoid_binary_cross_entropy(logits, batch.labels).mean()
        l2 = sum(jnp.sum(w**2) for w in jax.tree.leaves(params))
        return loss + hparams.weight_decay * l2, {"loss": loss}

    def step(carry, key):
        params, opt_state = carry
        index = jax.random.choice(key, size, (batch_size,), replace=False)
        batch = jax.tree.map(lambda x: x[index], data)
        params, opt_state, metrics, _ = gradient_step(tx, loss_fn, params, opt_state, batch)
        return (params, opt_state), metrics

    keys = jax.random.split(loop_key, num_steps)
    (params, _), metrics = jax.lax.scan(step, (params, tx.init(params)), keys)
    return params, metrics
