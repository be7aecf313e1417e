"""Scripted, deliberately imperfect teachers: policies `(key, obs) -> (action, {})` to imitate.

A teacher is imperfect in two ways, because the two matter differently to imitation learning:

- *lapses*: with probability `lapse` it takes a uniformly random action. Behaviour cloning (BC) learns
  the teacher's action distribution, lapses included; acting with the mode of that distribution
  removes unsystematic lapses, so a BC policy evaluated greedily can beat such a teacher by itself.
- *systematic flaws*: a mistake tied to the state (the MountainCar teacher's dead zone; the lock
  teacher's flawed stages, where it presses a wrong button more often than the right one). BC copies
  these into the mode as well, so only feedback from the environment's reward can remove them. Their
  severity is graded: the dead zone's width, the number of flawed stages and how often the wrong button
  is pressed there.

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
    return _with_lapses_keyed(lambda key, obs: act(obs), num_actions, lapse)


def _with_lapses_keyed(
    act: Callable[[PRNGKey, jax.Array], jax.Array], num_actions: int, lapse: float
) -> Policy:
    """`with_lapses` for a randomised controller `(key, obs) -> action`; it gets `fold_in(key, 1)`, so
    the lapse draws are those of `with_lapses` for the same key."""
    if not 0.0 <= lapse <= 1.0:
        raise ValueError(f"lapse must be in [0, 1], got {lapse}")

    def teacher(key: PRNGKey, obs: jax.Array) -> tuple[jax.Array, dict]:
        key_lapse, key_action = jax.random.split(key)
        random_action = jax.random.randint(key_action, (), 0, num_actions, jnp.int32)
        lapsed = jax.random.bernoulli(key_lapse, lapse)
        intended = act(jax.random.fold_in(key, 1), obs)
        return jnp.where(lapsed, random_action, intended).astype(jnp.int32), {}

    return teacher


def mountain_car(lapse: float = 0.2, dead_zone: float = 0.005) -> Policy:
    """Energy pumping on `MountainCar-v0` with a dead zone and lapses.

    Pushing in the direction of the velocity (action 2 = right if `v >= 0`, else 0 = left) adds energy on
    every swing; done without flaws it reaches the goal from every start in about 120 steps. This teacher
    is lazy: while `|v| < dead_zone` it coasts (action 1), so it wastes the swings that start slowly,
    near the valley floor, and often times out. Its lapses, oddly, help it: a random push can get a
    stalled car moving.

    The dead zone is a state-dependent flaw of graded severity: the wider it is, the more start states
    (those near the valley floor, where the car starts at rest) never build up speed without a lapse.

    Args:
        lapse: probability of a uniformly random action (of 3).
        dead_zone: speed below which the teacher coasts instead of pushing (the speed limit is 0.07);
            a float or a traced scalar (so several severities can share one compiled program).

    Returns:
        `(obs [2] = (position, velocity), key) -> action` int32.
    """

    def intended(obs: jax.Array) -> jax.Array:
        velocity = obs[1]
        push = jnp.where(velocity >= 0.0, 2, 0)
        return jnp.where(jnp.abs(velocity) < dead_zone, 1, push).astype(jnp.int32)

    return with_lapses(intended, 3, lapse)


def combination_lock(
    code: jax.Array,
    num_actions: int,
    lapse: float = 0.25,
    flawed: jax.Array | None = None,
    flaw_rate: float | jax.Array = 0.75,
) -> Policy:
    """A teacher for `CombinationLock-v0` that knows the code, misremembers some digits, and lapses.

    It reads its progress `p` off the one-hot observation and enters `code[p]`. At a *flawed* stage
    (`flawed[p]`) it believes in a wrong digit, `(code[p] + 1) mod A`, and presses it w.p. `flaw_rate`
    (the right one otherwise): a systematic, state-dependent flaw. With `flaw_rate > 1/2` the wrong
    button is the teacher's most likely action there, so a cloned policy acting greedily presses it
    every time and never opens the lock, while sampling still gets through w.p. `1 - flaw_rate` per
    flawed stage. Independently, w.p. `lapse` it presses a uniformly random button instead (a lapse,
    which greedy acting removes). With the lock's default `wrong_action="reset"` a wrong button sends it
    back to the start; an attempt succeeds with probability
    `(1 - lapse + lapse / A) ** (L - k) * ((1 - lapse) (1 - flaw_rate) + lapse / A) ** k` for `k`
    flawed stages.

    Args:
        code: `[L]` int32, the lock's code (from its params).
        num_actions: buttons `A`.
        lapse: probability of a uniformly random button (a Python float).
        flawed: `[L]` bool, the stages the teacher misremembers (`sample_lock_flaws`); None: none.
        flaw_rate: probability of the wrong button at a flawed stage; may be traced.

    Returns:
        `(key, obs [L + 1] one-hot progress) -> (action, {})`, action int32.
    """
    code = jnp.asarray(code, jnp.int32)
    length = code.shape[0]
    flawed = jnp.zeros((length,), bool) if flawed is None else jnp.asarray(flawed, bool)
    if flawed.shape != (length,):
        raise ValueError(f"flawed must have shape ({length},) like the code, got {flawed.shape}")

    def intended(key: PRNGKey, obs: jax.Array) -> jax.Array:
        progress = jnp.minimum(jnp.argmax(obs), length - 1)
        right = code[progress]
        slip = flawed[progress] & jax.random.bernoulli(key, flaw_rate)
        return jnp.where(slip, (right + 1) % num_actions, right)

    return _with_lapses_keyed(intended, num_actions, lapse)


def sample_lock_flaws(key: PRNGKey, length: int, num_flawed: int | jax.Array) -> jax.Array:
    """`[length]` bool with `num_flawed` stages set, drawn uniformly without replacement.

    `num_flawed` may be traced (severities vmapped in one program); it is clipped to `[0, length]` by
    construction (a stage is flawed iff its rank in a random permutation is below `num_flawed`).
    """
    return jax.random.permutation(key, length) < num_flawed


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
