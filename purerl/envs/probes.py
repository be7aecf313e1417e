"""Probe environments: the smallest MDPs that each isolate one part of an RL agent.

After Andy Jones, "Debugging RL, Without the Agonizing Pain" (2021,
https://andyljones.com/posts/rl-debugging.html). Each probe is one or two steps long and has a known
optimal value and policy, so a learning test can check one mechanism at a time:

| name                        | actions     | obs            | reward                        | tests         |
|-----------------------------|-------------|----------------|-------------------------------|---------------|
| `Probe-ConstantReward-v0`   | 1           | `[0.]`         | 1                             | value fit     |
| `Probe-ObsReward-v0`        | 1           | `±1`           | obs                           | value(obs)    |
| `Probe-TwoStep-v0`          | 1           | `[0.]`, `[1.]` | 1 at the end of step 2        | discounting   |
| `Probe-ActionReward-v0`     | 2           | `[0.]`         | +1 for action 1, -1 for 0     | policy        |
| `Probe-ObsActionReward-v0`  | 2           | `±1`           | +1 if action matches obs sign | policy(obs)   |
| `Probe-ContinuousTarget-v0` | Box([-1,1]) | U[-1, 1]       | `-(clip(action) - obs)^2`     | Gaussian pol. |

Every probe terminates (never truncates) at its natural end; stepping a finished probe without a reset
is undefined, as for every `Env` (wrap with `wrappers.auto_reset`). Probes have no tunable numbers, so
their params are an empty `ProbeParams()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from purerl.envs.core import Env, EnvSpec
from purerl.spaces import Box, Discrete
from purerl.types import Array, PRNGKey, TimeStep


class ProbeParams(NamedTuple):
    """Probes have nothing to sweep; an empty pytree keeps the `(env, params)` interface uniform."""


class ProbeState(NamedTuple):
    """State of every probe.

    Attributes:
        obs: `[1]` float32, the current observation.
        t: int32 scalar, steps taken in this episode.
    """

    obs: Array
    t: Array


_OBS_SHAPE = (1,)


def _timestep(obs: Array, reward: Array, terminated: Array) -> TimeStep:
    return TimeStep(
        obs=obs,
        reward=jnp.asarray(reward, jnp.float32),
        terminated=jnp.asarray(terminated, bool),
        truncated=jnp.zeros((), bool),
        final_obs=obs,
        info={},
    )


def _reset_with(obs: Array) -> tuple[ProbeState, TimeStep]:
    obs = jnp.asarray(obs, jnp.float32).reshape(_OBS_SHAPE)
    return ProbeState(obs, jnp.zeros((), jnp.int32)), _timestep(obs, 0.0, False)


def _random_sign(key: PRNGKey) -> Array:
    """`[1]` float32, -1 or +1 with equal probability."""
    return jnp.where(jax.random.bernoulli(key, 0.5, _OBS_SHAPE), 1.0, -1.0).astype(jnp.float32)


def _one_step_env(
    name: str,
    reset_obs: Callable[[PRNGKey], Array],
    reward_fn: Callable[[Array, Array], Array],
    obs_space: Box,
    action_space: Box | Discrete,
) -> tuple[Env, ProbeParams]:
    """A probe that terminates after one step with reward `reward_fn(obs, action)`."""

    def reset(key: PRNGKey, params: ProbeParams) -> tuple[ProbeState, TimeStep]:
        del params
        return _reset_with(reset_obs(key))

    def step(
        key: PRNGKey, state: ProbeState, action: Array, params: ProbeParams
    ) -> tuple[ProbeState, TimeStep]:
        del key, params
        # The terminal observation repeats the last one: it is never bootstrapped from.
        new_state = ProbeState(state.obs, state.t + 1)
        return new_state, _timestep(state.obs, reward_fn(state.obs, action), True)

    spec = EnvSpec(name, obs_space, action_space, max_episode_steps=1)
    return Env(reset, step, spec), ProbeParams()


def _zero_obs(key: PRNGKey) -> Array:
    del key
    return jnp.zeros(_OBS_SHAPE, jnp.float32)


def make_constant_reward() -> tuple[Env, ProbeParams]:
    """`Probe-ConstantReward-v0`: one action, obs `[0.]`, one step, reward 1.

    A value function must learn `V = 1`; if it cannot, the value loss or optimiser is broken.
    """
    return _one_step_env(
        "Probe-ConstantReward-v0",
        _zero_obs,
        lambda obs, action: jnp.ones((), jnp.float32),
        Box.from_bounds(0.0, 0.0, _OBS_SHAPE),
        Discrete(1),
    )


def make_obs_reward() -> tuple[Env, ProbeParams]:
    """`Probe-ObsReward-v0`: one action, obs `±1` (`[1]`), one step, reward = obs.

    A value function must learn `V(obs) = obs`; failing means the network ignores its input.
    """
    return _one_step_env(
        "Probe-ObsReward-v0",
        _random_sign,
        lambda obs, action: obs[0],
        Box.from_bounds(-1.0, 1.0, _OBS_SHAPE),
        Discrete(1),
    )


def make_action_reward() -> tuple[Env, ProbeParams]:
    """`Probe-ActionReward-v0`: two actions, obs `[0.]`, one step, reward +1 for action 1, -1 for 0.

    The policy must learn to pick action 1 (and `Q(a) = ±1`); tests the policy/advantage path.
    """
    return _one_step_env(
        "Probe-ActionReward-v0",
        _zero_obs,
        lambda obs, action: jnp.where(action == 1, 1.0, -1.0),
        Box.from_bounds(0.0, 0.0, _OBS_SHAPE),
        Discrete(2),
    )


def make_obs_action_reward() -> tuple[Env, ProbeParams]:
    """`Probe-ObsActionReward-v0`: obs `±1`, two actions, reward +1 iff action 1 on +1 or 0 on -1, else -1.

    The policy must condition on the observation: `pi(obs) = (obs + 1) / 2`.
    """

    def reward(obs: Array, action: Array) -> Array:
        wanted = (obs[0] > 0).astype(jnp.int32)
        return jnp.where(action == wanted, 1.0, -1.0)

    return _one_step_env(
        "Probe-ObsActionReward-v0",
        _random_sign,
        reward,
        Box.from_bounds(-1.0, 1.0, _OBS_SHAPE),
        Discrete(2),
    )


def make_continuous_target() -> tuple[Env, ProbeParams]:
    """`Probe-ContinuousTarget-v0`: obs uniform in `[-1, 1]` (`[1]`), action in `Box([-1, 1], [1])`.

    Reward `-(clip(action, -1, 1) - obs)^2`, one step: the optimal deterministic policy is
    `action = obs` with reward 0. Clipping first means an unbounded Gaussian is scored on what the
    environment can execute, as a squashed policy would be.
    """

    def reward(obs: Array, action: Array) -> Array:
        action = jnp.clip(jnp.asarray(action, jnp.float32).reshape(_OBS_SHAPE), -1.0, 1.0)
        return -jnp.sum((action - obs) ** 2)

    def uniform_obs(key: PRNGKey) -> Array:
        return jax.random.uniform(key, _OBS_SHAPE, jnp.float32, -1.0, 1.0)

    return _one_step_env(
        "Probe-ContinuousTarget-v0",
        uniform_obs,
        reward,
        Box.from_bounds(-1.0, 1.0, _OBS_SHAPE),
        Box.from_bounds(-1.0, 1.0, _OBS_SHAPE),
    )


def make_two_step() -> tuple[Env, ProbeParams]:
    """`Probe-TwoStep-v0`: one action, obs `[0.]` then `[1.]`, reward 1 only at the end of step 2.

    With discount `gamma`, `V([0.]) = gamma` and `V([1.]) = 1`: checks that the agent discounts and
    bootstraps through a non-terminal step (and cuts the bootstrap at the terminal one).
    """

    def reset(key: PRNGKey, params: ProbeParams) -> tuple[ProbeState, TimeStep]:
        del key, params
        return _reset_with(jnp.zeros(_OBS_SHAPE, jnp.float32))

    def step(
        key: PRNGKey, state: ProbeState, action: Array, params: ProbeParams
    ) -> tuple[ProbeState, TimeStep]:
        del key, action, params
        t = state.t + 1
        obs = jnp.ones(_OBS_SHAPE, jnp.float32)
        done = t >= 2
        return ProbeState(obs, t), _timestep(obs, done.astype(jnp.float32), done)

    spec = EnvSpec("Probe-TwoStep-v0", Box.from_bounds(0.0, 1.0, _OBS_SHAPE), Discrete(1), 2)
    return Env(reset, step, spec), ProbeParams()


PROBES: dict[str, Callable[[], tuple[Env, ProbeParams]]] = {
    "Probe-ConstantReward-v0": make_constant_reward,
    "Probe-ObsReward-v0": make_obs_reward,
    "Probe-TwoStep-v0": make_two_step,
    "Probe-ActionReward-v0": make_action_reward,
    "Probe-ObsActionReward-v0": make_obs_action_reward,
    "Probe-ContinuousTarget-v0": make_continuous_target,
}
