"""Supervised fine-tuning (SFT): teacher-forced cross-entropy on the teacher's chains of thought, the
behaviour cloning of sequences.

Every update draws fresh training problems and the teacher's completions for them (an unlimited supply
of demonstrations, so SFT converges to the teacher's distribution, slips included, rather than
overfitting a fixed set), and takes one gradient step on the mean token cross-entropy of the completion
(prompt tokens are context, not targets; positions after the first EOS are ignored).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax

from purerl.config import Positive
from purerl.learn import gradient_step, make_optimizer
from purerl.loop import Algorithm
from purerl.reasoning import sequence
from purerl.types import PRNGKey


@dataclasses.dataclass(frozen=True)
class SFTConfig(sequence.SequenceConfig):
    """Static SFT options: those of `sequence.SequenceConfig` (task, network, run length, evaluation)."""


class SFTHParams(NamedTuple):
    """Traced SFT hyperparameters (sweepable).

    Attributes:
        learning_rate: Adam step size (constant).
        max_grad_norm: global-norm gradient clipping.
    """

    learning_rate: Positive = 1e-3
    max_grad_norm: Positive = 1.0


class SFTState(NamedTuple):
    params: Any
    opt_state: Any


def sft_loss(params: Any, config: sequence.SequenceConfig, prompts: jax.Array, completions: jax.Array):
    """Mean cross-entropy of `completions [N, L]` given `prompts [N, P]` over the completion's tokens up to
    and including its EOS. Returns `(loss, metrics)`."""
    mask = sequence.completion_mask(completions, config.verifiable_task.eos_id)
    logp = sequence.completion_logprobs(params, config.model, prompts, completions)
    loss = -sequence.masked_mean(logp, mask)
    return loss, {"loss": loss}


def build(config: SFTConfig) -> Algorithm:
    """SFT for `config`: `init(key, hparams, init_params=None)` starts from `init_params` when given."""
    task = config.verifiable_task

    def optimizer(hparams: SFTHParams):
        return make_optimizer(hparams.learning_rate, hparams.max_grad_norm)

    def init(key: PRNGKey, hparams: SFTHParams, init_params: Any = None) -> SFTState:
        params = sequence.init_policy(key, config, init_params)
        return SFTState(params, optimizer(hparams).init(params))

    def update(key: PRNGKey, state: SFTState, hparams: SFTHParams) -> tuple[SFTState, dict]:
        problem_key, teacher_key = jax.random.split(key)
        problems = task.sample(problem_key, config.batch_size, "train")
        batch = (task.prompts(problems), task.teacher(teacher_key, problems))

        def loss_fn(params, batch):
            return sft_loss(params, config, *batch)

        params, opt_state, metrics, _ = gradient_step(
            optimizer(hparams), loss_fn, state.params, state.opt_state, batch
        )
        return SFTState(params, opt_state), metrics

    return Algorithm(init, update, sequence.greedy_act(config, lambda s: s.params), 0)


def make_train(config: SFTConfig):
    """`train(key, hparams, *init_args) -> loop.TrainOutput`; see `sequence.make_train`."""
    return sequence.make_train(config, build)
