"""Group Relative Policy Optimisation (GRPO; Shao et al., 2024, DeepSeekMath) for verifiable tasks.

Every update samples `group_size` completions for each of `batch_size` fresh training prompts, scores
them (the task's verifier, or a learned reward model: `reward="model"`), and takes the advantage of a
completion relative to its group:

    A_i = (r_i - mean(r_group)) / (std(r_group) + 1e-4)    variant "grpo"
    A_i =  r_i - mean(r_group)                              variant "dr_grpo" (Liu et al., 2025)

Every token of completion `i` gets `A_i`; the loss is PPO's clipped ratio surrogate per token, minus an
optional per-token KL penalty to the reference (initial) policy (the k3 estimator
`exp(q - p) - (q - p) - 1` with `p, q` the policy's and the reference's log-probs). "grpo" averages
tokens within each completion and then over completions; "dr_grpo" divides the token sum by the constant
`num_completions * completion_length`, which removes the length bias and the per-group scale the
normalisations introduce. A group whose rewards are all equal has zero advantage: with a sparse reward
and a random policy almost every group is such a group, so GRPO from scratch gets no signal (logged as
`groups_with_signal` and `groups_any_reward`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl.config import Flag, NonNegative, Positive, PositiveInt, check_divides, one_of
from purerl.learn import make_optimizer, minibatch_epochs
from purerl.loop import Algorithm
from purerl.reasoning import reward_model, sequence
from purerl.types import PRNGKey


@dataclasses.dataclass(frozen=True)
class GRPOConfig(sequence.SequenceConfig):
    """Static GRPO options, beyond `sequence.SequenceConfig` (where `batch_size` is prompts per update).

    Attributes:
        group_size: completions sampled per prompt (G).
        num_epochs: passes over each batch of completions.
        num_minibatches: minibatches per pass (must divide `batch_size * group_size`).
        variant: "grpo" (std-normalised advantages, per-completion token mean) or "dr_grpo" (neither).
        reward: "verifier" (the task's exact check) or "model" (a learned reward model, whose
            parameters `init` takes; its probability of "correct" is the reward).
        kl_to_reference: add `kl_coef * KL(policy || reference)` per token (one more forward pass).
    """

    batch_size: PositiveInt = 16
    group_size: PositiveInt = 8
    num_epochs: PositiveInt = 1
    num_minibatches: PositiveInt = 1
    variant: one_of("grpo", "dr_grpo") = "grpo"
    reward: one_of("verifier", "model") = "verifier"
    kl_to_reference: Flag = False

    def check(self) -> None:
        check_divides(self, "batch_size * group_size", "num_minibatches", self.batch_size * self.group_size)


class GRPOHParams(NamedTuple):
    """Traced GRPO hyperparameters (sweepable).

    Attributes:
        learning_rate: Adam step size (constant).
        clip_eps: the ratio clipping range.
        kl_coef: weight of the KL penalty (acts only with `kl_to_reference`).
        max_grad_norm: global-norm gradient clipping.
    """

    learning_rate: Positive = 3e-4
    clip_eps: Positive = 0.2
    kl_coef: NonNegative = 0.02
    max_grad_norm: Positive = 1.0


class GRPOState(NamedTuple):
    params: Any
    opt_state: Any
    reference: Any  # the initial policy, for the KL penalty
    reward_params: Any  # the reward model's parameters (None with the verifier)


def group_advantages(rewards: jax.Array, normalize_std: bool) -> jax.Array:
    """`[B, G]` rewards -> `[B, G]` advantages relative to each group's mean (and std, population)."""
    centred = rewards - rewards.mean(axis=-1, keepdims=True)
    if normalize_std:
        centred = centred / (rewards.std(axis=-1, keepdims=True) + 1e-4)
    return centred


def grpo_loss(
    logp: jax.Array,
    old_logp: jax.Array,
    advantages: jax.Array,
    mask: jax.Array,
    clip_eps: Any,
    variant: str,
    kl_coef: Any = 0.0,
    ref_logp: jax.Array | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The clipped-ratio GRPO loss over `N` completions of `L` tokens.

    Args:
        logp: `[N, L]` log-probs of the sampled tokens under the policy being trained.
        old_logp: `[N, L]` the same under the policy that sampled them.
        advantages: `[N]`, one per completion.
        mask: `[N, L]` 1 for the completion's tokens (through EOS), 0 after.
        clip_eps: ratio clipping range.
        variant: "grpo" (token mean per completion, then mean) or "dr_grpo" (token sum / (N * L)).
        kl_coef: weight of the KL penalty to the reference (with `ref_logp`).
        ref_logp: `[N, L]` reference log-probs, or None for no penalty.

    Returns:
        `(loss, metrics)`: metrics "clip_fraction" and "kl" (token means).
    """
    ratio = jnp.exp(logp - old_logp)
    adv = advantages[:, None]
    surrogate = jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv)
    per_token = -surrogate
    kl = jnp.zeros_like(logp)
    if ref_logp is not None:
        log_ratio = ref_logp - logp
        kl = jnp.exp(log_ratio) - log_ratio - 1.0
        per_token = per_token + kl_coef * kl
    if variant == "grpo":
        per_completion = (per_token * mask).sum(-1) / jnp.maximum(mask.sum(-1), 1.0)
        loss = per_completion.mean()
    else:
        loss = (per_token * mask).sum() / mask.size
    clipped = (jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32)
    metrics = {"clip_fraction": sequence.masked_mean(clipped, mask), "kl": sequence.masked_mean(kl, mask)}
    return loss, metrics


def build(config: GRPOConfig) -> Algorithm:
    """GRPO for `config`: `init(key, hparams, init_params=None, reward_params=None)` starts from random
    weights or `init_params` (e.g. SFT's); `reward_params` (from `reward_model.train`) is required with
    `reward="model"`."""
    task = config.verifiable_task
    model = config.model
    num_prompts, group = config.batch_size, config.group_size

    def optimizer(hparams: GRPOHParams):
        return make_optimizer(hparams.learning_rate, hparams.max_grad_norm)

    def init(key: PRNGKey, hparams: GRPOHParams, init_params: Any = None, reward_params: Any = None):
        if config.reward == "model" and reward_params is None:
            raise ValueError('GRPOConfig.reward="model" needs reward_params: init(key, hparams, params, rm)')
        params = sequence.init_policy(key, config, init_params)
        return GRPOState(params, optimizer(hparams).init(params), params, reward_params)

    def update(key: PRNGKey, state: GRPOState, hparams: GRPOHParams) -> tuple[GRPOState, dict]:
        problem_key, sample_key, epoch_key = jax.random.split(key, 3)
        problems = task.sample(problem_key, num_prompts, "train")
        problems = sequence.repeat_problems(problems, group)  # [B * G, ...]
        prompts = task.prompts(problems)
        samples = sequence.sample(sample_key, state.params, config, prompts)
        correct = task.verify(problems, samples.tokens)
        if config.reward == "model":
            reward = jax.nn.sigmoid(reward_model.score(state.reward_params, model, prompts, samples.tokens))
        else:
            reward = correct
        grouped = reward.reshape(num_prompts, group)
        advantages = group_advantages(grouped, config.variant == "grpo").reshape(-1)
        ref_logp = None
        if config.kl_to_reference:
            ref_logp = sequence.completion_logprobs(state.reference, model, prompts, samples.tokens)
        data = (prompts, samples.tokens, samples.logprobs, advantages, samples.mask, ref_logp)

        def loss_fn(params, batch):
            prompts, tokens, old_logp, adv, mask, ref = batch
            logp = sequence.completion_logprobs(params, model, prompts, tokens)
            return grpo_loss(
                logp, old_logp, adv, mask, hparams.clip_eps, config.variant, hparams.kl_coef, ref
            )

        params, opt_state, loss_metrics = minibatch_epochs(
            epoch_key,
            optimizer(hparams),
            loss_fn,
            state.params,
            state.opt_state,
            data,
            config.num_epochs,
            config.num_minibatches,
        )
        metrics = {
            **loss_metrics,
            "reward": reward.mean(),
            "pass_rate": correct.mean(),
            "groups_any_reward": jnp.any(grouped != 0, axis=-1).mean(),
            "groups_with_signal": (jnp.ptp(grouped, axis=-1) > 0).mean(),
            "completion_length": samples.mask.sum(-1).mean(),
        }
        return state._replace(params=params, opt_state=opt_state), metrics

    return Algorithm(init, update, sequence.greedy_act(config, lambda s: s.params), 0)


def make_train(config: GRPOConfig):
    """`train(key, hparams, *init_args) -> loop.TrainOutput`; see `sequence.make_train`."""
    return sequence.make_train(config, build)
