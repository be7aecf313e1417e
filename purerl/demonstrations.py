"""Demonstrations: roll out any policy and keep what imitation learning and evaluation need.

`collect` runs a `rollout.Policy` `(key, obs) -> (action, extras)` for one unbatched observation (a
scripted teacher or a trained network alike) in `B` auto-resetting environment instances for `T` steps, with
`vmap` over the instances and `lax.scan` over time, and returns a time-major `Demonstrations [T, B]`.

Each step also carries the return of the episode it belongs to, so a dataset can be filtered by episode
quality, and `first_episodes` reads off one unbiased episode per instance for evaluation: counting every
episode that ends inside a fixed window of `T` steps over-represents short episodes (more of them fit),
whereas the first episode of each instance is a plain sample from the policy's episode distribution.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl import rollout
from purerl.envs.core import Env
from purerl.rollout import Policy
from purerl.types import PRNGKey


class Demonstrations(NamedTuple):
    """Time-major transitions of a policy: every field has leading axes `[T, B]`.

    Attributes:
        obs: `[T, B, *obs_shape]` observation the action was taken in.
        action: `[T, B, *action_shape]` action taken.
        reward: `[T, B]` float32 reward received.
        terminated: `[T, B]` bool, the episode reached a terminal state at this step.
        truncated: `[T, B]` bool, the episode was cut by its time limit at this step.
        episode_return: `[T, B]` float32 undiscounted return of the whole episode this step belongs to;
            NaN for steps of an episode still running at the end of the window.
        episode_index: `[T, B]` int32, 0 for each instance's first episode, 1 for its second, ...
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    episode_return: jax.Array
    episode_index: jax.Array

    @property
    def episode_done(self) -> jax.Array:
        """`[T, B]` bool: the step ended an episode (terminated or truncated)."""
        return self.terminated | self.truncated

    @property
    def complete(self) -> jax.Array:
        """`[T, B]` bool: the step's episode ended inside the window (its return is known)."""
        return ~jnp.isnan(self.episode_return)


def _episode_return_per_step(episode_return_at_end: jax.Array, done: jax.Array) -> jax.Array:
    """Spread each episode's return over its steps: `[T]`, `[T]` -> `[T]` (one instance).

    Scanning backwards, `G_t = R_end(t)` if step `t` ends an episode, else `G_{t+1}`; the carry starts as
    NaN, so the steps of an episode unfinished at the window's end stay NaN.
    """

    def step(following, inputs):
        ret_t, done_t = inputs
        g_t = jnp.where(done_t, ret_t, following)
        return g_t, g_t

    init = jnp.full((), jnp.nan, jnp.float32)
    _, per_step = jax.lax.scan(step, init, (episode_return_at_end, done), reverse=True)
    return per_step


def collect(
    key: PRNGKey, env: Env, env_params: Any, policy: Policy, num_envs: int, num_steps: int
) -> Demonstrations:
    """Roll `act` out in `num_envs` fresh instances of `env` for `num_steps` steps each.

    Pure and jit-able (`num_envs`, `num_steps` static); `vmap` it over keys for independent datasets
    (e.g. one per seed).

    Args:
        env: a raw environment (auto-reset and episode statistics are added here).
        env_params: its params.
        policy: `(key, obs [*obs_shape]) -> (action, extras)`, applied to each instance with its own key.
        num_envs: `B`, parallel instances (each starts from a fresh reset).
        num_steps: `T`, steps per instance. With `T >= env.spec.max_episode_steps` every instance's first
            episode is complete.

    Returns:
        `Demonstrations` with `[T, B]` leading axes.
    """
    train_env = rollout.training_env(env)
    key_reset, key_roll = jax.random.split(key)
    batch = rollout.reset_batch(key_reset, train_env, env_params, num_envs)

    def batched(key, obs):
        # The scripted teachers are written for one observation; vmap gives each instance its own key.
        return jax.vmap(policy)(jax.random.split(key, num_envs), obs)[0], {}

    _, traj, info = rollout.collect(key_roll, train_env, env_params, batched, batch, num_steps)
    done = info["episode_done"]
    episode_return = jax.vmap(_episode_return_per_step, in_axes=1, out_axes=1)(info["episode_return"], done)
    # Episodes finished strictly before step t: a step belongs to episode number `ended_before`.
    ended = done.astype(jnp.int32)
    episode_index = jnp.cumsum(ended, axis=0) - ended
    return Demonstrations(
        traj.obs, traj.action, traj.reward, traj.terminated, traj.truncated, episode_return, episode_index
    )


class EpisodeSummary(NamedTuple):
    """One episode per instance (its first), shape `[..., B]` for a `[..., T, B]` dataset.

    Attributes:
        episode_return: undiscounted return (NaN if the first episode did not finish in the window).
        terminated: the episode ended in a terminal state (for goal-reaching tasks: success).
        length: steps in the episode (the window's length if unfinished).
        finished: the episode ended inside the window.
    """

    episode_return: jax.Array
    terminated: jax.Array
    length: jax.Array
    finished: jax.Array


def first_episodes(demos: Demonstrations) -> EpisodeSummary:
    """Each instance's first episode, an unbiased sample of the policy's episodes (see module doc).

    Works on `[T, B]` data and, through leading-axis broadcasting, on `[S, T, B]` (vmapped) data.
    """
    first = demos.episode_index == 0  # [..., T, B]
    end_of_first = first & demos.episode_done
    # Exactly one step per instance ends the first episode, if it ended: summing selects its values.
    finished = end_of_first.any(axis=-2)
    ret_at_end = jnp.where(end_of_first, demos.episode_return, 0.0).sum(axis=-2)
    episode_return = jnp.where(finished, ret_at_end, jnp.nan)
    terminated = (end_of_first & demos.terminated).any(axis=-2)
    length = first.sum(axis=-2).astype(jnp.int32)
    return EpisodeSummary(episode_return, terminated, length, finished)


def evaluate_episodes(
    key: PRNGKey, env: Env, env_params: Any, policy: Policy, num_episodes: int, max_steps: int = 0
) -> EpisodeSummary:
    """Play one whole episode of `policy` in each of `num_episodes` fresh instances: `[num_episodes]` each.

    Unlike `rollout.evaluate` (means only), this keeps every episode's return and whether it terminated,
    so success rates and per-episode statistics can be computed.

    Args:
        env: a raw environment.
        env_params: its params.
        policy: `(key, obs) -> (action, extras)` for one observation.
        num_episodes: episodes, one per instance.
        max_steps: step cap; 0 uses `env.spec.max_episode_steps` (every episode then finishes).
    """
    demos = collect(key, env, env_params, policy, num_episodes, max_steps or env.spec.max_episode_steps)
    return first_episodes(demos)


def flatten(demos: Demonstrations) -> Demonstrations:
    """`[T, B, ...]` -> `[T * B, ...]` (e.g. for minibatch sampling)."""
    num = demos.reward.shape[0] * demos.reward.shape[1]
    return jax.tree.map(lambda x: x.reshape((num, *x.shape[2:])), demos)
