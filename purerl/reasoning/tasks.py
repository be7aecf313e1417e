"""Verifiable sequence tasks: what a sequence algorithm needs from a task, and the registry of tasks.

A task is a `VerifiableTask`: pure functions that sample problems of a split, give their prompts, write
the teacher's completions and verify completions, plus the static token layout. Sequence algorithms see
only this interface, so a new task (see `docs/verifiable_tasks.md`) is one factory in `TASKS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from purerl.config import unknown_name_message
from purerl.types import PRNGKey

# Splits every task provides: train (for learning), valid (for choosing settings), test (for the report
# only) and ood (harder problems than any of the others, e.g. more steps).
SPLITS = ("train", "valid", "test", "ood")


class VerifiableTask(NamedTuple):
    """A task whose completions a program can check exactly.

    Attributes:
        name: registered name.
        vocab_size: tokens in the vocabulary.
        pad_id: the padding token (left of prompts, right of completions after `eos_id`).
        eos_id: the end-of-completion token.
        prompt_length: static `P` every prompt is left-padded to (in every split).
        completion_length: static `L` of a completion buffer, enough for the longest correct one.
        sample: `(key, num, split) -> problems`, a pytree with leading `[num]` (split in `SPLITS`).
        prompts: `problems -> [N, P]` int32 prompt tokens.
        verify: `(problems, completions [N, L]) -> [N]` float32 reward (1 = right final answer).
        teacher: `(key, problems) -> [N, L]` int32, the "human" teacher's completions.
        decode: host-side `tokens -> str`, for printing examples.
    """

    name: str
    vocab_size: int
    pad_id: int
    eos_id: int
    prompt_length: int
    completion_length: int
    sample: Callable[[PRNGKey, int, str], Any]
    prompts: Callable[[Any], jax.Array]
    verify: Callable[[Any, jax.Array], jax.Array]
    teacher: Callable[[PRNGKey, Any], jax.Array]
    decode: Callable[[Any], str]


def word_problems(**kwargs: Any) -> VerifiableTask:
    """Arithmetic word problems (`purerl.reasoning.word_problems`).

    Keyword arguments are fields of `WordProblemSpec` (difficulty: steps, digits) or of `TeacherSlips`
    (the teacher's systematic slips), e.g. `word_problems(max_steps=2, carry_slip_from=19)`.
    """
    import dataclasses

    from purerl.reasoning import word_problems as wp

    spec_names = {f.name for f in dataclasses.fields(wp.WordProblemSpec)}
    slip_names = {f.name for f in dataclasses.fields(wp.TeacherSlips)}
    unknown = sorted(set(kwargs) - spec_names - slip_names)
    if unknown:
        raise ValueError(
            "task_kwargs: " + unknown_name_message("option", unknown[0], sorted(spec_names | slip_names))
        )
    spec = wp.WordProblemSpec(**{k: v for k, v in kwargs.items() if k in spec_names})
    slips = wp.TeacherSlips(**{k: v for k, v in kwargs.items() if k in slip_names})
    length = spec.completion_length

    def sample(key: PRNGKey, num: int, split: str) -> Any:
        if split == "ood":
            return wp.sample_problems(key, spec.ood(), num, "test")
        return wp.sample_problems(key, spec, num, split)

    return VerifiableTask(
        name="word_problems",
        vocab_size=wp.VOCAB_SIZE,
        pad_id=wp.PAD_ID,
        eos_id=wp.EOS_ID,
        prompt_length=spec.prompt_length,
        completion_length=length,
        sample=sample,
        prompts=lambda problems: problems.prompt,
        verify=wp.verify,
        teacher=lambda key, problems: wp.teacher_completions(key, problems, slips, length),
        decode=wp.decode,
    )


TASKS: dict[str, Callable[..., VerifiableTask]] = {"word_problems": word_problems}


def make_task(name: str, **kwargs: Any) -> VerifiableTask:
    """The registered task `name` built with its options; a one-line `ValueError` for a bad name."""
    if name not in TASKS:
        raise ValueError("task: " + unknown_name_message("task", name, sorted(TASKS)))
    return TASKS[name](**kwargs)
