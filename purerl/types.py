"""Core data types shared by environments, estimators and agents.

Everything here is a `NamedTuple`, so it is a JAX pytree: it can be carried through `lax.scan`, batched
with `vmap` and stored time-major (`[T, B, ...]`). Use attribute access, never tuple unpacking: fields may
be added.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

PRNGKey = jax.Array
Array = jax.Array
PyTree = Any
Params = Any


class TimeStep(NamedTuple):
    """What an environment returns from `reset` and `step` (one unbatched instance).

    Attributes:
        obs: observation the agent acts on next. After an auto-reset this is the first observation of
            the new episode.
        reward: float32 scalar reward for the transition that produced this step (0 on reset).
        terminated: bool scalar; the MDP reached a terminal state, so the bootstrap value is 0.
        truncated: bool scalar; the episode was cut (time limit), so the bootstrap value is
            `V(final_obs)`. Never true together with `terminated`.
        final_obs: observation reached by this transition, before any auto-reset. Equal to `obs`
            whenever the episode did not end.
        info: dict of scalar arrays with a fixed structure (e.g. episode statistics).
    """

    obs: Array
    reward: Array
    terminated: Array
    truncated: Array
    final_obs: Array
    info: dict[str, Array]


class Transition(NamedTuple):
    """One step of experience, stored time-major: every field has leading axes `[T, B]`.

    Attributes:
        obs: `[T, B, *obs_shape]` observation the action was taken in.
        action: `[T, B, *action_shape]`.
        reward: `[T, B]` reward received.
        terminated: `[T, B]` bool, episode ended in a terminal state.
        truncated: `[T, B]` bool, episode was cut by a time limit.
        final_obs: `[T, B, *obs_shape]` next observation before auto-reset (bootstrap target).
        extras: algorithm-specific per-step data, e.g. `{"log_prob": [T, B], "value": [T, B]}`.
    """

    obs: Array
    action: Array
    reward: Array
    terminated: Array
    truncated: Array
    final_obs: Array
    extras: dict[str, Array]
