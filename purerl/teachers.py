"""Scripted, deliberately imperfect teachers: policies `(key, obs) -> (action, {})` to imitate.

A teacher is imperfect in two ways, because the two matter differently to imitation learning:

- *lapses*: with probability `lapse` it takes a uniformly random action. Behaviour cloning (BC) learns
  the teacher's action distribution, lapses included; acting with the mode of that distribution
  removes unsystematic lapses, so a BC policy evaluated greedily can beat such a teacher by itself.
- *systematic flaws*: a deterministic mistake in some states (the MountainCar teacher's dead zone). BC
  copies these into the mode as well, so only feedback from the environment's reward can remove them.

Every teacher acts on one unbatched observation (the demonstration collector vmaps it). `make_teacher`
builds the teacher registered for an environment from that environment's params (the combination lock's
teacher reads the code from them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from purerl.config import unknown_name_message
from purerl.rollout import Policy
from purerl.types import PRNGKey


def with_lapses(act: Callable[[jax.Array], jax.Array], num_actions: int, lapse: float) -> Policy:
    """Wrap a deterministic discrete controller `obs -> action`: a uniform random action w.p. `lapse`.

    Args:
        act: the intended action for one observation, int32 scalar.
        num_actions: size of the discrete action space.
        lapse: probability in `[0, 1]` of replacing the intended action by a uniformly random one
            (which may coincide with it: the intended action is taken w.p. `1 - lapse + lapse / A`).
    """
    if not 0.0 <= lapse <= 1.0:
        raise ValueError(f"lapse must be in [0, 1], got {lapse}")

    def teacher(key: PRNGKey, obs: jax.Array) -> tuple[jax.Array, dict]:
        key_lapse, key_action = jax.random.split(key)
        random_action = jax.random.randint(key_action, (), 0, num_actions, jnp.int32)
        lapsed = jax.random.bernoulli(key_lapse, lapse)
        return jnp.where(lapsed, random_action, act(obs)).astype(jnp.int32), {}

    return teacher


def mountain_car(lapse: float = 0.2, dead_zone: float = 0.005) -> Policy:
    """Energy pumping on `MountainCar-v0` with a dead zone and lapses.

    Pushing in the direction of the velocity (action 2 = right if `v >= 0`, else 0 = left) adds energy on
    every swing; done without flaws it reaches the goal from every start in about 120 steps. This teacher
    is lazy: while `|v| < dead_zone` it coasts (action 1), so it wastes the swings that start slowly,
    near the valley floor, and often times out. Its lapses, oddly, help it: a random push can get a
    stalled car moving.

    Args:
        lapse: probability of a uniformly random action (of 3).
        dead_zone: speed below which the teacher coasts instead of pushing (the speed limit is 0.07).

    Returns:
        `(obs [2] = (position, velocity), key) -> action` int32.
    """

    def intended(obs: jax.Array) -> jax.Array:
        velocity = obs[1]
        push = jnp.where(velocity >= 0.0, 2, 0)
        return jnp.where(jnp.abs(velocity) < dead_zone, 1, push).astype(jnp.int32)

    return with_lapses(intended, 3, lapse)


def combination_lock(code: jax.Array, num_actions: int, lapse: float = 0.25) -> Policy:
    """A teacher for `CombinationLock-v0` that knows the code but lapses.

    It reads its progress off the one-hot observation and enters `code[progress]`; with probability
    `lapse` it presses a uniformly random button instead, which (with the lock's default
    `wrong_action="reset"`) usually sends it back to the start. An attempt at a length-`L` code succeeds
    with probability `(1 - lapse + lapse / A) ** L`.

    Args:
        code: `[L]` int32, the lock's code (from its params).
        num_actions: buttons `A`.
        lapse: probability of a uniformly random button.

    Returns:
        `(obs [L + 1] one-hot progress, key) -> action` int32.
    """
    code = jnp.asarray(code, jnp.int32)
    length = code.shape[0]

    def intended(obs: jax.Array) -> jax.Array:
        progress = jnp.minimum(jnp.argmax(obs), length - 1)
        return code[progress]

    return with_lapses(intended, num_actions, lapse)


def obs_action_probe(lapse: float = 0.0) -> Policy:
    """The optimal policy of `Probe-ObsActionReward-v0` (action 1 iff obs > 0), optionally lapsing."""
    return with_lapses(lambda obs: (obs[0] > 0).astype(jnp.int32), 2, lapse)


def _lock_teacher(env_params: Any, env_spec: Any, **options: Any) -> Policy:
    return combination_lock(env_params.code, env_spec.action_space.n, **options)


# env name -> (env_params, env_spec, **options) -> teacher
TEACHERS: dict[str, Callable[..., Policy]] = {
    "MountainCar-v0": lambda env_params, env_spec, **options: mountain_car(**options),
    "CombinationLock-v0": _lock_teacher,
    "Probe-ObsActionReward-v0": lambda env_params, env_spec, **options: obs_action_probe(**options),
}


def make_teacher(env_name: str, env_params: Any, env_spec: Any, **options: Any) -> Policy:
    """The teacher registered for `env_name`, built for these env params.

    Args:
        env_name: a key of `TEACHERS`.
        env_params: the environment's params (e.g. the lock's code).
        env_spec: the environment's `EnvSpec` (e.g. the number of buttons).
        **options: the teacher's own options, e.g. `lapse=0.1`.

    Raises:
        ValueError: if no teacher is registered for `env_name`.
    """
    if env_name not in TEACHERS:
        raise ValueError(unknown_name_message("teacher environment", env_name, tuple(TEACHERS)))
    return TEACHERS[env_name](env_params, env_spec, **options)
