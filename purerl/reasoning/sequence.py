"""What every sequence algorithm shares: the config (task, policy network, run length, evaluation), the
loop wiring, and the token-level pieces (completion masks, log-probs, pass@k).

A sequence algorithm is a `loop.Algorithm` whose observations are prompts and whose actions are
completions: `act(key, state, prompts [B, P]) -> completions [B, L]` (greedy decoding, the evaluation
policy). `make_agent` gives it the generic loop's blocks, divergence freezing and evaluation, where an
evaluation is the greedy pass rate on fresh problems of `eval_split`: `eval_return` is pass@1.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from purerl.config import AutoInt, PositiveInt, check_fields, one_of, store_sorted_pairs
from purerl.loop import Agent, Algorithm, TrainOutput, eval_blocks, make_train_fn
from purerl.reasoning import transformer
from purerl.reasoning.tasks import VerifiableTask, make_task
from purerl.types import PRNGKey


@dataclasses.dataclass(frozen=True)
class SequenceConfig:
    """Static options every sequence algorithm shares. Validated once, on construction.

    Attributes:
        task: registered task name (`tasks.TASKS`).
        task_kwargs: the task factory's options as `(name, value)` pairs (a dict is accepted), e.g.
            `{"max_steps": 2}` for word problems.
        num_layers, d_model, num_heads: the policy transformer (`transformer.TransformerConfig`).
        num_updates: updates per run.
        batch_size: prompts per update.
        eval_every: updates between evaluations; 0 picks `num_updates // 20` (at least 1).
        eval_problems: fresh problems per evaluation.
        eval_split: the split evaluated during training: "valid" (for choosing settings; the test
            split is for reports only) or "ood".
    """

    task: str = "word_problems"
    task_kwargs: tuple[tuple[str, Any], ...] = ()
    num_layers: PositiveInt = 2
    d_model: PositiveInt = 64
    num_heads: PositiveInt = 4
    num_updates: PositiveInt = 300
    batch_size: PositiveInt = 64
    eval_every: AutoInt = 0
    eval_problems: PositiveInt = 256
    eval_split: one_of("valid", "ood") = "valid"

    def __post_init__(self) -> None:
        check_fields(self)
        store_sorted_pairs(self, "task_kwargs")
        _ = self.verifiable_task, self.model  # building them validates the task and network options
        if self.eval_every > self.num_updates:
            raise ValueError(
                f"{type(self).__name__}.eval_every={self.eval_every} exceeds num_updates={self.num_updates}"
            )
        self.check()

    def check(self) -> None:
        """Checks across fields of the algorithm (raise `ValueError` naming the field)."""

    @functools.cached_property
    def verifiable_task(self) -> VerifiableTask:
        return make_task(self.task, **dict(self.task_kwargs))

    @functools.cached_property
    def model(self) -> transformer.TransformerConfig:
        task = self.verifiable_task
        return transformer.TransformerConfig(
            vocab_size=task.vocab_size,
            max_len=task.prompt_length + task.completion_length,
            num_layers=self.num_layers,
            d_model=self.d_model,
            num_heads=self.num_heads,
        )

    @property
    def updates_run(self) -> int:
        """Updates a run executes: `num_updates` rounded down to whole evaluation blocks."""
        eval_every, num_blocks = eval_blocks(self.num_updates, self.eval_every)
        return eval_every * num_blocks


# ----------------------------------------------------------------------------------------------------
# Loop wiring


def make_agent(config: SequenceConfig, algo: Algorithm) -> Agent:
    """The loop's view of a sequence algorithm: evaluation is greedy pass@1 on fresh problems."""
    task = config.verifiable_task
    eval_every, num_blocks = eval_blocks(config.num_updates, config.eval_every)

    def evaluate(key: PRNGKey, state: Any, hparams: Any) -> dict[str, jax.Array]:
        problem_key, act_key = jax.random.split(key)
        problems = task.sample(problem_key, config.eval_problems, config.eval_split)
        completions = algo.act(act_key, state, task.prompts(problems))
        return {
            "eval_return": task.verify(problems, completions).mean(),
            "eval_length": completion_mask(completions, task.eos_id).sum(-1).mean(),
        }

    return Agent(algo.init, algo.update, evaluate, num_blocks, eval_every, 0, algo.act)


def make_train(config: SequenceConfig, build: Callable[[Any], Algorithm]) -> Callable[..., TrainOutput]:
    """`train(key, hparams, *init_args) -> TrainOutput` for the algorithm `build(config)`: pure and
    unjitted, as `loop.make_train_fn` (vmap it over keys and per-seed `init_args`)."""
    return make_train_fn(make_agent(config, build(config)))


def init_policy(key: PRNGKey, config: SequenceConfig, init_params: Any = None) -> Any:
    """Fresh transformer parameters, or `init_params` (e.g. SFT's) when given."""
    return transformer.init_params(key, config.model) if init_params is None else init_params


def greedy_act(config: SequenceConfig, params_of: Callable[[Any], Any]) -> Callable[..., jax.Array]:
    """`act(key, state, prompts [B, P]) -> completions [B, L]`: greedy decoding with `params_of(state)`."""

    def act(key: PRNGKey, state: Any, prompts: jax.Array) -> jax.Array:
        return sample(key, params_of(state), config, prompts, temperature=0.0).tokens

    return act


def sample(
    key: PRNGKey, params: Any, config: SequenceConfig, prompts: jax.Array, temperature: Any = 1.0
) -> transformer.Samples:
    """Completions of `prompts [B, P]` (KV-cache sampling, `transformer.sample`) of the task's length."""
    task = config.verifiable_task
    return transformer.sample(
        key,
        params,
        config.model,
        prompts,
        task.completion_length,
        temperature=temperature,
        eos_id=task.eos_id,
        pad_id=task.pad_id,
    )


# ----------------------------------------------------------------------------------------------------
# Token-level pieces


def completion_mask(completions: jax.Array, eos_id: int) -> jax.Array:
    """`[N, L]` float32: 1 up to and including the first `eos_id` (all of a row without one), 0 after."""
    is_eos = completions == eos_id
    after_eos = (jnp.cumsum(is_eos, axis=-1) - is_eos) > 0
    return (~after_eos).astype(jnp.float32)


def completion_logprobs(
    params: Any, model: transformer.TransformerConfig, prompts: jax.Array, completions: jax.Array
) -> jax.Array:
    """`[N, L]` log-probs of `completions [N, L]` after `prompts [N, P]`, teacher-forced, in one pass."""
    tokens = jnp.concatenate([prompts, completions], axis=-1)
    logits = transformer.logits(params, model, tokens[:, :-1])[:, prompts.shape[-1] - 1 :]
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logp, completions[..., None], axis=-1)[..., 0]


def repeat_problems(problems: Any, times: int) -> Any:
    """Each problem `times` times in a row (`[N, ...] -> [N * times, ...]`): groups of samples."""
    return jax.tree.map(lambda x: jnp.repeat(x, times, axis=0), problems)


def masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of `x` over the entries where `mask` is 1 (0 when the mask is empty)."""
    return (x * mask).sum() / jnp.maximum(mask.sum(), 1.0)


def pass_at_k(num_correct: jax.Array, num_samples: int, k: int) -> jax.Array:
    """Unbiased pass@k from `num_samples` samples of which `num_correct` are right (Chen et al., 2021):

        pass@k = 1 - C(n - c, k) / C(n, k) = 1 - prod_{i = n - c + 1}^{n} (1 - k / i)

    Args:
        num_correct: `[...]` int, correct samples per problem.
        num_samples: `n`, samples per problem (>= k).
        k: samples the metric allows.

    Returns:
        `[...]` float32, the probability that at least one of `k` samples drawn without replacement from
        the `n` is right.
    """
    if not 1 <= k <= num_samples:
        raise ValueError(f"pass@k needs 1 <= k <= num_samples={num_samples}, got k={k}")
    i = jnp.arange(1, num_samples + 1, dtype=jnp.float32)
    # Factor i enters the product when i > n - c; its value is 1 - k / i (0 once i <= k: sure success).
    factors = jnp.where(i > num_samples - num_correct[..., None], 1.0 - k / i, 1.0)
    return 1.0 - jnp.prod(factors, axis=-1)


# ----------------------------------------------------------------------------------------------------
# Evaluation of a policy


def greedy_pass_rate(
    key: PRNGKey, params: Any, config: SequenceConfig, split: str, num_problems: int
) -> tuple[jax.Array, jax.Array]:
    """Greedy pass@1 of `params` and the teacher's accuracy on the same `num_problems` fresh problems.

    Returns:
        `(policy, teacher)` float32 scalars: the fraction of problems each answers right.
    """
    task = config.verifiable_task
    problem_key, act_key, teacher_key = jax.random.split(key, 3)
    problems = task.sample(problem_key, num_problems, split)
    completions = sample(act_key, params, config, task.prompts(problems), temperature=0.0).tokens
    teacher = task.verify(problems, task.teacher(teacher_key, problems)).mean()
    return task.verify(problems, completions).mean(), teacher


def pass_at_k_curve(
    key: PRNGKey,
    params: Any,
    config: SequenceConfig,
    split: str,
    num_problems: int,
    num_samples: int,
    ks: tuple[int, ...],
) -> jax.Array:
    """`[len(ks)]` pass@k (unbiased estimator, `pass_at_k`) from `num_samples` temperature-1 samples for
    each of `num_problems` fresh problems, averaged over problems."""
    task = config.verifiable_task
    problem_key, sample_key = jax.random.split(key)
    problems = task.sample(problem_key, num_problems, split)
    repeated = repeat_problems(problems, num_samples)
    completions = sample(sample_key, params, config, task.prompts(repeated)).tokens
    num_correct = task.verify(repeated, completions).reshape(num_problems, num_samples).sum(-1)
    return jnp.stack([pass_at_k(num_correct, num_samples, k).mean() for k in ks])
