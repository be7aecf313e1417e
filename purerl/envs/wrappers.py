"""Env -> Env transformations. Each wrapper keeps the inner state in its own NamedTuple, so wrappers nest.

Typical training stack (what `purerl.rollout` uses)::

    env = episode_stats(auto_reset(env))
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from purerl.envs.core import Env
from purerl.normalization import RunningMeanStd
from purerl.spaces import Box


def clip_action(env: Env) -> Env:
    """Clip actions into the action space before they reach the environment.

    Continuous actions are clipped into the box: agents store the unclipped sample (its log-probability
    is what the policy gradient needs) and let this wrapper keep the environment's inputs valid.
    Discrete actions outside `0 .. n - 1` are clipped to the nearest end: a jitted step cannot raise, and
    unwrapped envs do not check (gymnax's CartPole would push with `2a - 1` times the force), so the
    boundary is where an invalid action is made valid. NaN continuous actions are not repaired.
    """
    space = env.spec.action_space
    if not isinstance(space, Box):
        last = space.n - 1

        def step_discrete(key, state, action, params):
            return env.step(key, state, jnp.clip(action, 0, last), params)

        return Env(env.reset, step_discrete, env.spec)
    low, high = space.low_array, space.high_array

    def step(key, state, action, params):
        return env.step(key, state, jnp.clip(action, low, high), params)

    return Env(env.reset, step, env.spec)


def _where_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


class TimeLimitState(NamedTuple):
    inner: Any
    step_count: jax.Array


def time_limit(env: Env, max_steps: int) -> Env:
    """Truncate episodes after `max_steps` steps (`truncated=True`, never together with `terminated`)."""
    if max_steps <= 0:
        raise ValueError(f"max_steps must be positive, got {max_steps}")

    def reset(key, params):
        inner, ts = env.reset(key, params)
        return TimeLimitState(inner, jnp.zeros((), jnp.int32)), ts

    def step(key, state, action, params):
        inner, ts = env.step(key, state.inner, action, params)
        count = state.step_count + 1
        truncated = (ts.truncated | (count >= max_steps)) & ~ts.terminated
        return TimeLimitState(inner, count), ts._replace(truncated=truncated)

    spec = dataclasses.replace(env.spec, max_episode_steps=min(max_steps, env.spec.max_episode_steps))
    return Env(reset, step, spec)


def auto_reset(env: Env) -> Env:
    """Reset automatically when an episode ends.

    On the step that ends an episode the returned `TimeStep.obs` is the first observation of the next
    episode, `final_obs` is the observation the transition reached (what a truncated step bootstraps
    from), and `reward`, `terminated`, `truncated` still describe the ending transition.
    """

    def step(key, state, action, params):
        key_step, key_reset = jax.random.split(key)
        state_next, ts = env.step(key_step, state, action, params)
        state_reset, ts_reset = env.reset(key_reset, params)
        done = ts.terminated | ts.truncated
        state = _where_tree(done, state_reset, state_next)
        return state, ts._replace(obs=jnp.where(done, ts_reset.obs, ts.final_obs))

    return Env(env.reset, step, env.spec)


class EpisodeStatsState(NamedTuple):
    inner: Any
    episode_return: jax.Array
    episode_length: jax.Array


def episode_stats(env: Env) -> Env:
    """Add `info["episode_return"]`, `info["episode_length"]` and `info["episode_done"]`.

    On the step where `episode_done` is true, the two statistics describe the episode that just ended;
    otherwise they hold the running values. Wrap *outside* `auto_reset`.
    """

    def stats_info(ts, ret, length, done):
        return {**ts.info, "episode_return": ret, "episode_length": length, "episode_done": done}

    def reset(key, params):
        inner, ts = env.reset(key, params)
        zero_f, zero_i = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        ts = ts._replace(info=stats_info(ts, zero_f, zero_i, jnp.zeros((), bool)))
        return EpisodeStatsState(inner, zero_f, zero_i), ts

    def step(key, state, action, params):
        inner, ts = env.step(key, state.inner, action, params)
        ret = state.episode_return + ts.reward.astype(jnp.float32)
        length = state.episode_length + 1
        done = ts.terminated | ts.truncated
        new_state = EpisodeStatsState(inner, jnp.where(done, 0.0, ret), jnp.where(done, 0, length))
        return new_state, ts._replace(info=stats_info(ts, ret, length, done))

    return Env(reset, step, env.spec)


class NormalizeObsState(NamedTuple):
    inner: Any
    stats: RunningMeanStd


def normalize_obs(env: Env, clip: float = 10.0) -> Env:
    """Standardise observations with running statistics kept in the env state.

    Under `vmap` every environment instance keeps its own statistics (no cross-batch communication, so
    the wrapper stays a pure single-instance function). Wrap outside `auto_reset` so statistics survive
    episode boundaries. `final_obs` is normalised with the same statistics as `obs`.
    """
    shape = env.spec.observation_space.shape

    def reset(key, params):
        inner, ts = env.reset(key, params)
        stats = RunningMeanStd.create(shape).update(ts.obs.astype(jnp.float32))
        norm = stats.normalize(ts.obs, clip)
        return NormalizeObsState(inner, stats), ts._replace(obs=norm, final_obs=norm)

    def step(key, state, action, params):
        inner, ts = env.step(key, state.inner, action, params)
        stats = state.stats.update(ts.final_obs.astype(jnp.float32))
        ts = ts._replace(obs=stats.normalize(ts.obs, clip), final_obs=stats.normalize(ts.final_obs, clip))
        return NormalizeObsState(inner, stats), ts

    spec = dataclasses.replace(env.spec, observation_space=Box.from_bounds(-clip, clip, shape))
    return Env(reset, step, spec)


class NormalizeRewardState(NamedTuple):
    inner: Any
    discounted_return: jax.Array
    stats: RunningMeanStd


def normalize_reward(env: Env, gamma: float = 0.99, clip: float = 10.0) -> Env:
    """Scale rewards by the running standard deviation of the discounted return (no mean shift).

    Statistics stay with each instance, as in `normalize_obs`. `info["raw_reward"]` keeps the
    unscaled reward so episode statistics can still be computed on the true scale (wrap
    `episode_stats` inside this wrapper to report raw returns).
    """

    def reset(key, params):
        inner, ts = env.reset(key, params)
        zero = jnp.zeros((), jnp.float32)
        ts = ts._replace(info={**ts.info, "raw_reward": zero})
        return NormalizeRewardState(inner, zero, RunningMeanStd.create(())), ts

    def step(key, state, action, params):
        inner, ts = env.step(key, state.inner, action, params)
        ret = state.discounted_return * gamma + ts.reward
        stats = state.stats.update(ret)
        scaled = jnp.clip(ts.reward / jnp.sqrt(stats.var + 1e-8), -clip, clip)
        done = ts.terminated | ts.truncated
        new_state = NormalizeRewardState(inner, jnp.where(done, 0.0, ret), stats)
        return new_state, ts._replace(reward=scaled, info={**ts.info, "raw_reward": ts.reward})

    return Env(reset, step, env.spec)


def flatten_obs(env: Env) -> Env:
    """Flatten observations to 1-D float32 vectors (for MLPs on image-like observations)."""
    space = env.spec.observation_space
    size = int(np.prod(space.shape))

    def flat(x):
        return jnp.reshape(x, (size,)).astype(jnp.float32)

    def reset(key, params):
        state, ts = env.reset(key, params)
        return state, ts._replace(obs=flat(ts.obs), final_obs=flat(ts.final_obs))

    def step(key, state, action, params):
        state, ts = env.step(key, state, action, params)
        return state, ts._replace(obs=flat(ts.obs), final_obs=flat(ts.final_obs))

    if isinstance(space, Box):
        new_space = Box(
            space.low if len(space.low) == size else space.low * size,
            space.high if len(space.high) == size else space.high * size,
            (size,),
        )
    else:
        new_space = Box.from_bounds(0, space.n - 1, (size,))
    return Env(reset, step, dataclasses.replace(env.spec, observation_space=new_space))
