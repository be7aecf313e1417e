"""What the on-policy actor-critic agents (PPO, A2C, REINFORCE) share.

Each of them builds an `ActorCritic` network for the environment's action space, may standardise
observations with running statistics kept in its state, may decay its learning rate linearly to 0,
evaluates the policy it learnt the same way, and splits its updates into evaluation blocks the same way.
Those pieces live here so that an algorithm file holds only its own collection and loss.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import optax

from purerl import learn, rollout
from purerl.config import Flag, Real
from purerl.envs import wrappers
from purerl.envs.core import Env, EnvSpec
from purerl.loop import NetworkOptions
from purerl.networks import ActorCritic
from purerl.normalization import RunningMeanStd
from purerl.types import PRNGKey


@dataclasses.dataclass(frozen=True)
class PolicyOptions(NetworkOptions):
    """Options of the actor-critic family's networks and inputs.

    Attributes:
        init_log_std: initial log-std of the Gaussian policy (continuous actions).
        anneal_lr: decay the learning rate linearly towards 0 over the run.
        normalize_obs: standardise observations with running statistics kept in the agent state
            (evaluation uses the same statistics).
    """

    init_log_std: Real = 0.0
    anneal_lr: Flag = True
    normalize_obs: Flag = False


def make_actor_critic(spec: EnvSpec, options: NetworkOptions) -> ActorCritic:
    """An `ActorCritic` with `options`' torso whose policy head fits `spec.action_space`.

    Discrete actions get a categorical head over `n` actions, a `Box` a diagonal Gaussian with one mean
    per action dimension (the action box is enforced by the `clip_action` wrapper, not the policy).
    """
    action_dim = spec.action_space.n if spec.discrete_actions else spec.action_space.shape[0]
    return ActorCritic(
        action_dim,
        spec.discrete_actions,
        options.network,
        tuple(options.hidden_sizes),
        options.activation,
        getattr(options, "init_log_std", 0.0),
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


def flat_policy_terms(
    network: ActorCritic, normalizer: ObsNormalizer, params: Any, obs_stats: RunningMeanStd, traj: Any
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """`(log pi(a|s), H[pi(.|s)], V(s))` of a time-major segment `[T, B]`, each flattened to `[T * B]`."""
    pi, values = network.apply(params, normalizer(obs_stats, traj.obs))
    return pi.log_prob(traj.action).reshape(-1), pi.entropy().reshape(-1), values.reshape(-1)


def segment_step(
    tx: Any,
    network: ActorCritic,
    normalizer: ObsNormalizer,
    state: Any,
    traj: Any,
    targets: tuple[jax.Array, ...],
    info: dict,
    terms_loss: Callable,
) -> tuple[Any, Any, RunningMeanStd, dict[str, jax.Array]]:
    """One gradient step on a whole rollout segment (A2C, REINFORCE), then the observation statistics.

    The loss is `terms_loss(log_prob, entropy, values, *targets)` on flat data: the policy terms of
    `flat_policy_terms` and every target flattened, each `[T * B]`.

    Args:
        tx: the optimiser.
        network: the agent's actor-critic.
        normalizer: the agent's observation normaliser.
        state: the agent state (`params`, `opt_state`, `obs_stats`).
        traj: the time-major segment `[T, B]` (`obs`, `action`).
        targets: per-step regression or advantage targets, each `[T, B]`.
        info: the rollout's per-step env info (episode statistics).
        terms_loss: `(log_prob, entropy, values, *targets) -> (loss, metrics)`.

    Returns:
        `(params, opt_state, obs_stats, metrics)`, metrics with `grad_norm` and the episode statistics.
    """

    def loss_fn(params: Any, batch: tuple[Any, tuple[jax.Array, ...]]) -> tuple[jax.Array, dict]:
        traj, targets = batch
        log_prob, entropy, values = flat_policy_terms(network, normalizer, params, state.obs_stats, traj)
        return terms_loss(log_prob, entropy, values, *(x.reshape(-1) for x in targets))

    batch = (traj, targets)
    params, opt_state, metrics, grads = learn.gradient_step(tx, loss_fn, state.params, state.opt_state, batch)
    obs_stats = normalizer.update(state.obs_stats, traj.obs.reshape((-1, *traj.obs.shape[2:])))
    metrics["grad_norm"] = optax.tree.norm(grads)
    metrics.update(rollout.episode_metrics(info))
    return params, opt_state, obs_stats, metrics


def make_policy_act(
    network: ActorCritic, normalizer: ObsNormalizer, greedy: bool
) -> Callable[[PRNGKey, Any, jax.Array], jax.Array]:
    """`act(key, state, obs)`: the policy of `state.params` (on observations normalised with
    `state.obs_stats` when enabled), its mode if `greedy`, else a sample."""

    def act(key: PRNGKey, state: Any, obs: jax.Array) -> jax.Array:
        obs = normalizer(state.obs_stats, obs) if normalizer.enabled else obs
        pi = network.apply(state.params, obs, method=ActorCritic.policy)
        return pi.mode() if greedy else pi.sample(key)

    return act
