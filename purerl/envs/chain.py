"""A combination lock: a chain MDP whose single reward hides behind a secret action sequence.

The sparsity knob is `length` (with `num_actions`): a policy that has not found the code sees no reward
at all, which is what separates imitation (which is shown the code) from RL (which must stumble on it).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from purerl.envs import wrappers
from purerl.envs.core import Env, EnvSpec
from purerl.spaces import Box, Discrete
from purerl.types import Array, PRNGKey, TimeStep

WrongAction = Literal["reset", "terminate"]


class CombinationLockParams(NamedTuple):
    """One lock.

    Attributes:
        code: `[length]` int32, the action to take at each progress level, each in `[0, num_actions)`.
    """

    code: Array


class CombinationLockState(NamedTuple):
    """Where the agent is in the chain.

    Attributes:
        progress: int32 scalar in `[0, length]`, code digits entered correctly in a row.
    """

    progress: Array


def default_params(length: int = 5, num_actions: int = 4) -> CombinationLockParams:
    """Fixed, key-free code `code[i] = (7 i + 3) mod num_actions`."""
    return CombinationLockParams((jnp.arange(length, dtype=jnp.int32) * 7 + 3) % num_actions)


def sample_params(key: PRNGKey, length: int = 5, num_actions: int = 4, **_static) -> CombinationLockParams:
    """A uniformly random code, shape `[length]` int32 (vmap over keys for a batch of locks); the
    factory's other static options (`**_static`) do not change the params."""
    return CombinationLockParams(jax.random.randint(key, (length,), 0, num_actions, jnp.int32))


def make_combination_lock(
    length: int = 5,
    num_actions: int = 4,
    wrong_action: WrongAction = "reset",
    max_steps: int | None = None,
) -> tuple[Env, CombinationLockParams]:
    """`CombinationLock-v0`: enter a secret code of `length` actions, one per step, to earn reward 1.

    The observation is the one-hot progress, `[length + 1]` float32 (index `p` = `p` digits entered).
    Taking `code[progress]` advances progress; entering the last digit pays reward 1 and terminates
    (the only nonzero reward, so success pays 1 exactly once). A wrong action either sends progress back
    to 0 (`wrong_action="reset"`, reward 0) or ends the episode (`"terminate"`, reward 0). Episodes are
    truncated after `max_steps` steps (default `4 * length`).

    Sparsity: a uniformly random policy enters the code with probability `num_actions ** -length` per
    attempt. With `"terminate"` an episode is one attempt, so that is its success probability exactly.
    With `"reset"` a failed attempt costs about `num_actions / (num_actions - 1)` steps, so an episode
    holds several attempts and succeeds with probability roughly
    `(max_steps - length) * (num_actions - 1) / num_actions * num_actions ** -length` while that is small:
    about 1.2% for the defaults (exact: 0.0119) and 3e-4 for `length=8`.

    Args:
        length: number of digits in the code (the chain's length), >= 1.
        num_actions: actions per step, >= 2.
        wrong_action: `"reset"` or `"terminate"`, what a wrong digit does.
        max_steps: time limit (truncation); `None` means `4 * length`.

    Returns:
        `(env, params)` with the fixed code of `default_params(length, num_actions)`; `sample_params` draws
        random codes. Codes in `params` must have shape `[length]` with entries in `[0, num_actions)`.

    Raises:
        ValueError: on a non-positive size, fewer than 2 actions, or an unknown `wrong_action`.
    """
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if num_actions < 2:
        raise ValueError(f"num_actions must be >= 2, got {num_actions}")
    if wrong_action not in ("reset", "terminate"):
        raise ValueError(f"wrong_action must be 'reset' or 'terminate', got {wrong_action!r}")
    max_steps = 4 * length if max_steps is None else max_steps
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    terminate_on_wrong = wrong_action == "terminate"

    def observe(progress: Array) -> Array:
        return jax.nn.one_hot(progress, length + 1, dtype=jnp.float32)

    def reset(key: PRNGKey, params: CombinationLockParams) -> tuple[CombinationLockState, TimeStep]:
        del key, params
        progress = jnp.zeros((), jnp.int32)
        obs = observe(progress)
        false, zero = jnp.zeros((), bool), jnp.zeros((), jnp.float32)
        return CombinationLockState(progress), TimeStep(obs, zero, false, false, obs, {})

    def step(
        key: PRNGKey, state: CombinationLockState, action: Array, params: CombinationLockParams
    ) -> tuple[CombinationLockState, TimeStep]:
        del key
        # Clamp so that stepping an already-opened lock (undefined without a reset) cannot index past the end.
        wanted = params.code[jnp.minimum(state.progress, length - 1)]
        correct = action == wanted
        if terminate_on_wrong:
            # The terminal observation keeps the progress reached before the mistake.
            progress = jnp.where(correct, state.progress + 1, state.progress)
        else:
            progress = jnp.where(correct, state.progress + 1, 0)
        progress = progress.astype(jnp.int32)
        opened = correct & (progress == length)
        terminated = opened | (~correct if terminate_on_wrong else jnp.zeros((), bool))
        obs = observe(progress)
        ts = TimeStep(obs, opened.astype(jnp.float32), terminated, jnp.zeros((), bool), obs, {})
        return CombinationLockState(progress), ts

    spec = EnvSpec(
        "CombinationLock-v0",
        Box.from_bounds(0.0, 1.0, (length + 1,)),
        Discrete(num_actions),
        max_steps,
    )
    env = wrappers.time_limit(Env(reset, step, spec), max_steps)
    return env, default_params(length, num_actions)
