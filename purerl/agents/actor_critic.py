"""What the on-policy actor-critic agents (PPO, A2C, REINFORCE) share.

Each of them builds an `ActorCritic` network for the environment's action space, may standardise
observations with running statistics kept in its state, may decay its learning rate linearly to 0,
evaluates the policy it learnt the same way, and splits its updates into evaluation blocks the same way.
Those pieces live here so that an algorithm file holds only its own collection and loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax

from purerl import rollout
from purerl.envs import wrappers
from purerl.envs.core import Env, EnvSpec
from purerl.networks import ActorCritic
from purerl.normalization import RunningMeanStd
from purerl.types import Params, PRNGKey


def make_actor_critic(
    spec: EnvSpec,
    torso: str,
    hidden_sizes: Sequence[int],
    activation: str,
    init_log_std: float = 0.0,
) -> ActorCritic:
    """An `ActorCritic` whose policy head fits `spec.action_space`.

    Discrete actions get a categorical head over `n` actions, a `Box` a diagonal Gaussian with one mean
    per action dimension (the action box is enforced by the `clip_action` wrapper, not the policy).
    """
    action_dim = spec.action_space.n if spec.discrete_actions else spec.action_space.shape[0]
    return ActorCritic(
        action_dim,
        spec.discrete_actions,
        torso,
        tuple(hidden_sizes),
        activation,
        init_log_std,
        obs_ndim=len(spec.observation_space.shape),
    )


def make_training_env(env: Env, normalize_reward: bool = False) -> Env:
    """The stack an on-policy agent collects with: auto-reset and episode statistics, and optionally
    rewards scaled by the running std of the discounted return (`wrappers.normalize_reward`).

    The reward wrapper sits outside `episode_stats`, so reported episode returns stay on the raw scale.
    Its statistics live in each environment's state: agents that reset their environments every update
    would restart them each time, so only agents with persistent environments should enable it.
    """
    train_env = rollout.training_env(env)
    return wrappers.normalize_reward(train_env) if normalize_reward else train_env


def eval_blocks(num_updates: int, eval_every: int) -> tuple[int, int]:
    """`(eval_every, num_blocks)`: `eval_every = 0` means about 20 evaluations per run.

    Updates beyond `num_blocks * eval_every` are dropped, so a run always ends on an evaluation.
    """
    eval_every = eval_every or max(1, num_updates // 20)
    return eval_every, num_updates // eval_every


def linear_decay(
    learning_rate: Any, num_updates: int, grad_steps_per_update: int = 1
) -> Callable[[jax.Array], jax.Array]:
    """optax schedule decaying `learning_rate` linearly towards 0 over `num_updates` updates.

    The rate is constant within one update (its `grad_steps_per_update` gradient steps) and drops by
    `learning_rate / num_updates` between updates, so the last update still uses `1 / num_updates` of
    the initial rate rather than 0.

    Args:
        learning_rate: initial rate; may be a traced (swept) scalar.
        num_updates: updates in the run.
        grad_steps_per_update: optimiser steps per update (the schedule's `count` counts those).
    """
    total = num_updates * grad_steps_per_update

    def schedule(count: jax.Array) -> jax.Array:
        done_updates = (count // grad_steps_per_update) * grad_steps_per_update
        return learning_rate * (1.0 - done_updates / total)

    return schedule


class ObsNormalizer(NamedTuple):
    """Optional observation standardisation with statistics kept in the agent state (not the env).

    Keeping one `RunningMeanStd` per seed in the agent state (rather than per env instance in a wrapper)
    means evaluation sees exactly the statistics the policy was trained with. When `enabled` is false
    every method is the identity, so agents can call them unconditionally.

    Attributes:
        enabled: static switch.
        shape: observation shape.
    """

    enabled: bool
    shape: tuple[int, ...]

    def init(self, first_obs: jax.Array) -> RunningMeanStd:
        """Statistics for a new run, seeded with the first observations `[B, *shape]` when enabled."""
        stats = RunningMeanStd.create(self.shape)
        return stats.update_batch(first_obs) if self.enabled else stats

    def __call__(self, stats: RunningMeanStd, obs: jax.Array) -> jax.Array:
        """Standardise `obs` `[..., *shape]` (identity when disabled)."""
        return stats.normalize(obs) if self.enabled else obs

    def update(self, stats: RunningMeanStd, obs: jax.Array) -> RunningMeanStd:
        """Fold in a batch `[N, *shape]` (no-op when disabled)."""
        return stats.update_batch(obs) if self.enabled else stats


def make_policy_evaluator(
    env: Env,
    env_params: Any,
    network: ActorCritic,
    normalizer: ObsNormalizer,
    num_episodes: int,
    max_steps: int,
    greedy: bool,
) -> Callable[[Params, RunningMeanStd, PRNGKey], dict[str, jax.Array]]:
    """`evaluate(params, obs_stats, key) -> {"eval_return", "eval_length"}` on fresh episodes.

    Args:
        env: the raw environment (`rollout.evaluate` adds auto-reset and episode statistics).
        network: the agent's `ActorCritic`; only its policy is used.
        normalizer: the agent's observation normaliser.
        num_episodes: evaluation episodes, one per fresh environment instance.
        max_steps: step cap of an evaluation episode.
        greedy: act with the policy's mode rather than samples.
    """

    def evaluate(params: Params, obs_stats: RunningMeanStd, key: PRNGKey) -> dict[str, jax.Array]:
        def act(obs, key):
            pi = network.apply(params, normalizer(obs_stats, obs), method=ActorCritic.policy)
            return pi.mode() if greedy else pi.sample(key)

        return rollout.evaluate(env, env_params, act, key, num_episodes, max_steps)

    return evaluate
