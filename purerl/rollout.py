"""Acting in a batch of environments: shared by every agent.

`collect` steps `B` environment instances for `T` steps with a policy and returns time-major
`Transition`s `[T, B, ...]`; `evaluate` plays whole evaluation episodes. Both are pure and jit-able.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl.envs import wrappers
from purerl.envs.core import Env
from purerl.types import PRNGKey, Transition

# The one policy signature: (key, obs [B, ...]) -> (action [B, ...], extras), `extras` a dict of [B] arrays
# stored in `Transition.extras` (empty for policies with nothing to store).
Policy = Callable[[PRNGKey, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]


class EnvBatch(NamedTuple):
    """`B` environment instances and the observation each acts on next."""

    state: Any
    obs: jax.Array


def training_env(env: Env) -> Env:
    """The stack agents train on: auto-reset with episode statistics."""
    return wrappers.episode_stats(wrappers.auto_reset(env))


def reset_batch(key: PRNGKey, env: Env, env_params: Any, num_envs: int) -> EnvBatch:
    state, ts = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), env_params)
    return EnvBatch(state, ts.obs)


def step_batch(key: PRNGKey, env: Env, env_params: Any, batch: EnvBatch, action: jax.Array):
    """Step every instance once. Returns `(EnvBatch, TimeStep [B])`."""
    keys = jax.random.split(key, batch.obs.shape[0])
    state, ts = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, batch.state, action, env_params)
    return EnvBatch(state, ts.obs), ts


def collect(
    key: PRNGKey, env: Env, env_params: Any, policy: Policy, batch: EnvBatch, num_steps: int
) -> tuple[EnvBatch, Transition, dict[str, jax.Array]]:
    """Roll out `num_steps` steps in every instance (`env` must auto-reset and keep episode stats).

    Returns:
        `(batch, transitions [T, B], info [T, B])`, `info` being the env's per-step info dict.
    """

    def step(batch, key):
        key_act, key_env = jax.random.split(key)
        action, extras = policy(key_act, batch.obs)
        next_batch, ts = step_batch(key_env, env, env_params, batch, action)
        transition = Transition(
            batch.obs, action, ts.reward, ts.terminated, ts.truncated, ts.final_obs, extras
        )
        return next_batch, (transition, ts.info)

    batch, (transitions, info) = jax.lax.scan(step, batch, jax.random.split(key, num_steps))
    return batch, transitions, info


def episode_metrics(info: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Mean return and length of the episodes that ended inside a rollout (0 if none did), their count,
    and the rollout's total of every `event_*` entry an env puts in `info` (per-step event indicators,
    e.g. DeepSea's `event_treasure`), so counts of rare events survive the per-update averaging."""
    done = info["episode_done"].astype(jnp.float32)
    count = done.sum()
    denom = jnp.maximum(count, 1.0)
    events = {
        name: value.astype(jnp.float32).sum() for name, value in info.items() if name.startswith("event_")
    }
    return {
        "episode_return": (info["episode_return"] * done).sum() / denom,
        "episode_length": (info["episode_length"] * done).sum() / denom,
        "episodes": count,
        **events,
    }


def evaluate(
    key: PRNGKey, env: Env, env_params: Any, policy: Policy, num_episodes: int, max_steps: int
) -> dict[str, jax.Array]:
    """Play one episode in each of `num_episodes` fresh instances, for at most `max_steps` steps.

    Args:
        env: a raw or wrapped env (auto-reset and episode statistics are added here).
        policy: `(key, obs [N, ...]) -> (action [N, ...], extras)`, e.g. the greedy policy.

    Returns:
        `{"eval_return": mean return, "eval_length": mean length}` over the episodes; an episode
        still running after `max_steps` counts with its partial return.
    """
    env = training_env(env)
    key_reset, key_loop = jax.random.split(key)
    batch = reset_batch(key_reset, env, env_params, num_episodes)
    zeros = jnp.zeros((num_episodes,), jnp.float32)

    def step(carry, key):
        batch, finished, ret, length, running_ret, running_len = carry
        key_act, key_env = jax.random.split(key)
        batch, ts = step_batch(key_env, env, env_params, batch, policy(key_act, batch.obs)[0])
        first_end = ts.info["episode_done"] & ~finished
        ret = jnp.where(first_end, ts.info["episode_return"], ret)
        length = jnp.where(first_end, ts.info["episode_length"].astype(jnp.float32), length)
        running_ret = jnp.where(finished, running_ret, ts.info["episode_return"])
        running_len = jnp.where(finished, running_len, ts.info["episode_length"].astype(jnp.float32))
        return (batch, finished | ts.info["episode_done"], ret, length, running_ret, running_len), None

    init = (batch, jnp.zeros((num_episodes,), bool), zeros, zeros, zeros, zeros)
    (_, finished, ret, length, running_ret, running_len), _ = jax.lax.scan(
        step, init, jax.random.split(key_loop, max_steps)
    )
    ret = jnp.where(finished, ret, running_ret)
    length = jnp.where(finished, length, running_len)
    return {"eval_return": ret.mean(), "eval_length": length.mean()}
