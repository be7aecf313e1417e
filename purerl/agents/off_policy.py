"""What SAC and TD3 share: the off-policy training loop over a replay buffer, its config, and the
target-network pieces (one-step critic target, Polyak averaging).

One `update` of an off-policy agent:

1. collect `num_steps` steps in each of `num_envs` environments, with uniformly random actions while
   fewer than `random_steps` environment steps have been taken (the warm-up that fills the buffer
   with broad data), with the learner's exploration policy afterwards;
2. write those `num_envs * num_steps` transitions into the replay buffer (a pytree in the state);
3. take `gradient_steps` learner steps on minibatches sampled uniformly from the buffer. Until
   `learning_starts` environment steps have been taken the learner's new state is discarded with a
   `jnp.where` mask, not a `lax.cond`: under `vmap` over seeds a `cond` with a batched predicate
   becomes a `select` that runs both branches anyway, and a mask keeps one code path.

An algorithm supplies an `OffPolicyLearner` (how to initialise, explore, act greedily and learn from a
stack of minibatches) and gets back a `purerl.loop.Agent`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from purerl import rollout
from purerl.agents.common import check_env_kwargs, check_env_name, check_eval_options
from purerl.config import check_choice, check_positive_int
from purerl.envs import make
from purerl.envs.core import Env
from purerl.loop import Agent
from purerl.networks import ACTIVATIONS
from purerl.replay import ReplayBuffer, replay_add_batch, replay_init, replay_sample
from purerl.rollout import EnvBatch
from purerl.spaces import Box
from purerl.types import PRNGKey, Transition


@dataclasses.dataclass(frozen=True)
class OffPolicyConfig:
    """Static options shared by the off-policy agents (subclassed by `SACConfig`, `TD3Config`).

    Attributes:
        env_name: registered environment name (continuous actions, bounded box).
        total_timesteps: environment steps per seed; rounded down to whole evaluation blocks.
        num_envs: parallel environments per seed.
        num_steps: steps taken in each environment per update.
        gradient_steps: learner steps per update. The replay ratio (gradient steps per environment
            step) is `gradient_steps / (num_envs * num_steps)`.
        batch_size: transitions per minibatch.
        buffer_size: replay capacity in transitions; at least `num_envs * num_steps`.
        learning_starts: environment steps before learner updates are kept.
        random_steps: environment steps acted with uniformly random actions (warm-up exploration).
        hidden_sizes: widths of the actor's and each critic's MLP.
        activation: one of `networks.ACTIVATIONS`.
        eval_every: updates between evaluations; 0 picks `num_updates // 20` (at least 1).
        eval_episodes: evaluation episodes per evaluation (deterministic actions).
        eval_max_steps: step cap of an evaluation episode; 0 uses the env's episode limit.
        env_kwargs: static options of the environment's factory as `(name, value)` pairs (or a dict).
    """

    # Defaults: the tuned Pendulum-v1 setting (replay ratio 1; 64-unit networks and 20k steps keep a
    # many-seed run cheap on CPU; both agents solve Pendulum within ~10k steps with it).
    env_name: str = "Pendulum-v1"
    total_timesteps: int = 20_000
    num_envs: int = 4
    num_steps: int = 1
    gradient_steps: int = 4
    batch_size: int = 128
    buffer_size: int = 20_000
    learning_starts: int = 1_000
    random_steps: int = 1_000
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    eval_every: int = 0
    eval_episodes: int = 10
    eval_max_steps: int = 0
    env_kwargs: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        name = type(self).__name__
        check_env_name(self)
        check_env_kwargs(self)
        check_positive_int(
            self,
            "total_timesteps",
            "num_envs",
            "num_steps",
            "gradient_steps",
            "batch_size",
            "buffer_size",
            "eval_episodes",
        )
        for field in ("learning_starts", "random_steps"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}.{field} must be a non-negative integer, got {value!r}")
        if isinstance(self.hidden_sizes, str) or not hasattr(self.hidden_sizes, "__iter__"):
            raise ValueError(
                f"{name}.hidden_sizes must be a sequence of positive integers, got {self.hidden_sizes!r}"
            )
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        if not self.hidden_sizes or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden_sizes
        ):
            raise ValueError(f"{name}.hidden_sizes must be positive integers, got {self.hidden_sizes!r}")
        check_choice(self, "activation", tuple(ACTIVATIONS))
        if self.total_timesteps < self.steps_per_update:
            raise ValueError(
                f"{name}.total_timesteps={self.total_timesteps} is smaller than one update "
                f"(num_envs * num_steps = {self.steps_per_update})"
            )
        if self.buffer_size < self.steps_per_update:
            raise ValueError(
                f"{name}.buffer_size={self.buffer_size} cannot hold one update's transitions "
                f"(num_envs * num_steps = {self.steps_per_update})"
            )
        if self.learning_starts >= self.num_updates * self.steps_per_update:
            raise ValueError(
                f"{name}.learning_starts={self.learning_starts} is not below the run's "
                f"{self.num_updates * self.steps_per_update} env steps: no gradient step would take effect"
            )
        check_eval_options(self, self.num_updates)

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update


class ReplayItem(NamedTuple):
    """One stored transition (no batch axis in the buffer's example item; `[N, ...]` when sampled).

    Only what a one-step target needs: truncation is not stored, because a truncated transition
    bootstraps from `final_obs` exactly like an ordinary one (Pardo et al., 2018, "Time limits in
    reinforcement learning"); only `terminated` cuts the bootstrap.

    Attributes:
        obs: `[*obs_shape]` observation the action was taken in.
        action: `[A]` action executed (inside the action box).
        reward: float32 scalar.
        terminated: bool scalar.
        final_obs: `[*obs_shape]` next observation before any auto-reset.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    final_obs: jax.Array


class OffPolicyState(NamedTuple):
    """Training state of an off-policy agent (carried through `lax.scan`).

    Attributes:
        learner: the algorithm's own state (parameters, target parameters, optimiser states).
        buffer: replay buffer of `ReplayItem`s.
        envs: the `num_envs` training environments.
        env_steps: int32 scalar, environment steps taken so far (all environments together).
    """

    learner: Any
    buffer: ReplayBuffer
    envs: EnvBatch
    env_steps: jax.Array


class OffPolicyLearner(NamedTuple):
    """An algorithm's part of the off-policy loop, as pure functions.

    Attributes:
        init: `(key, obs [B, ...], action [B, A], hparams) -> learner_state`; the arrays are examples
            for shapes.
        explore: `(learner_state, obs [B, ...], key, hparams) -> action [B, A]` inside the box.
        act: `(learner_state, obs [B, ...]) -> action [B, A]`, deterministic (evaluation).
        learn: `(learner_state, batches, hparams, key) -> (learner_state, metrics)`; `batches` is a
            `ReplayItem` with leaves `[gradient_steps, batch_size, ...]`, metrics a dict of scalars.
    """

    init: Callable[[PRNGKey, jax.Array, jax.Array, Any], Any]
    explore: Callable[[Any, jax.Array, PRNGKey, Any], jax.Array]
    act: Callable[[Any, jax.Array], jax.Array]
    learn: Callable[[Any, ReplayItem, Any, PRNGKey], tuple[Any, dict[str, jax.Array]]]


def one_step_target(
    reward: jax.Array, terminated: jax.Array, next_value: jax.Array, gamma: jax.Array
) -> jax.Array:
    """Critic target `y = r + gamma * (1 - terminated) * V(s')`, outside the gradient.

    A truncated (time-limit) transition is not terminated, so it bootstraps from `V(final_obs)`.

    Args:
        reward: `[N]` rewards.
        terminated: `[N]` bool, the MDP ended (no bootstrap).
        next_value: `[N]` value of `final_obs` (e.g. min of target critics, minus the entropy term).
        gamma: discount.

    Returns:
        `[N]` targets, wrapped in `stop_gradient`.
    """
    discount = gamma * (1.0 - terminated.astype(reward.dtype))
    return jax.lax.stop_gradient(reward + discount * next_value)


def polyak_update(target: Any, online: Any, tau: jax.Array) -> Any:
    """Polyak averaging of target parameters: `target <- tau * online + (1 - tau) * target`, leafwise.

    Lillicrap et al., 2016 ("Continuous control with deep RL"), used by TD3 and SAC with `tau = 0.005`.
    """
    return jax.tree.map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)


def bounded_action_box(env: Env, algo: str) -> Box:
    """The env's action box, which must be 1-D and finite (actions are squashed into it)."""
    space = env.spec.action_space
    if not isinstance(space, Box) or len(space.shape) != 1 or not space.bounded:
        raise ValueError(f"{algo} needs a bounded 1-D Box action space, but {env.spec.name} has {space}")
    return space


def replay_items(traj: Transition) -> ReplayItem:
    """Flatten time-major transitions `[T, B, ...]` into replay items `[T * B, ...]`.

    `truncated` is dropped: a time-limit step is stored as non-terminal with its pre-reset
    `final_obs`, so the critic target bootstraps through it.
    """
    items = ReplayItem(traj.obs, traj.action, traj.reward, traj.terminated, traj.final_obs)
    return jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), items)


def _masked(active: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda n, o: jnp.where(active, n, o), new, old)


def make_off_policy_agent(
    config: OffPolicyConfig, env: Env, env_params: Any, learner: OffPolicyLearner
) -> Agent:
    """The shared collect -> store -> learn loop (module docstring) as a `purerl.loop.Agent`.

    Args:
        config: the algorithm's config (an `OffPolicyConfig` subclass).
        env: the environment with a bounded action box (already wrapped by `agents.common.make_env`).
        env_params: its params.
        learner: the algorithm's functions.
    """
    space = bounded_action_box(env, type(config).__name__)
    low, high = space.low_array, space.high_array
    train_env = rollout.training_env(env)
    num_updates = config.num_updates
    eval_every = config.eval_every or max(1, num_updates // 20)
    num_blocks = num_updates // eval_every
    steps_per_update = config.steps_per_update
    eval_max_steps = config.eval_max_steps or env.spec.max_episode_steps

    def init(key: PRNGKey, hparams: Any) -> OffPolicyState:
        key_env, key_learner = jax.random.split(key)
        envs = rollout.reset_batch(train_env, env_params, key_env, config.num_envs)
        example_action = jnp.zeros((config.num_envs, *space.shape), jnp.float32)
        example = ReplayItem(
            obs=envs.obs[0],
            action=example_action[0],
            reward=jnp.zeros((), jnp.float32),
            terminated=jnp.zeros((), bool),
            final_obs=envs.obs[0],
        )
        buffer = replay_init(example, config.buffer_size)
        learner_state = learner.init(key_learner, envs.obs, example_action, hparams)
        return OffPolicyState(learner_state, buffer, envs, jnp.zeros((), jnp.int32))

    def update(state: OffPolicyState, hparams: Any, key: PRNGKey):
        key_collect, key_sample, key_learn = jax.random.split(key, 3)
        # Decided once per update, so the warm-up ends on a multiple of num_envs * num_steps.
        warm_up = state.env_steps < config.random_steps

        def policy(obs, key):
            key_explore, key_random = jax.random.split(key)
            explore = learner.explore(state.learner, obs, key_explore, hparams)
            uniform = jax.random.uniform(key_random, explore.shape, jnp.float32, low, high)
            return jnp.where(warm_up, uniform, explore), {}

        envs, traj, info = rollout.collect(
            train_env, env_params, policy, state.envs, key_collect, config.num_steps
        )
        items = replay_items(traj)
        buffer = replay_add_batch(state.buffer, items)
        env_steps = state.env_steps + steps_per_update
        keys = jax.random.split(key_sample, config.gradient_steps)
        batches = jax.vmap(lambda k: replay_sample(buffer, k, config.batch_size))(keys)
        new_learner, metrics = learner.learn(state.learner, batches, hparams, key_learn)
        active = env_steps >= config.learning_starts
        learner_state = _masked(active, new_learner, state.learner)
        metrics = {k: jnp.where(active, v, jnp.zeros_like(v)) for k, v in metrics.items()}
        metrics["learning"] = active.astype(jnp.float32)
        metrics.update(rollout.episode_metrics(info))
        return OffPolicyState(learner_state, buffer, envs, env_steps), metrics

    def evaluate(state: OffPolicyState, hparams: Any, key: PRNGKey):
        def act(obs, key):
            return learner.act(state.learner, obs)

        return rollout.evaluate(env, env_params, act, key, config.eval_episodes, eval_max_steps)

    return Agent(init, update, evaluate, num_blocks, eval_every, steps_per_update)


def replay_memory_bytes(config: OffPolicyConfig) -> int:
    """Bytes of one seed's replay buffer: `buffer_size x` the size of one `ReplayItem`.

    An item is `obs` and `final_obs` (observation dtype), `action` (float32), `reward` (float32) and
    `terminated` (bool, one byte); e.g. 33 bytes on Pendulum-v1 (3-dim observation, 1-dim action).
    """
    env, _ = make(config.env_name, **dict(config.env_kwargs))
    obs_space, action_space = env.spec.observation_space, env.spec.action_space
    obs_bytes = int(np.prod(obs_space.shape)) * np.dtype(obs_space.dtype).itemsize
    action_bytes = int(np.prod(action_space.shape)) * np.dtype(np.float32).itemsize
    item_bytes = 2 * obs_bytes + action_bytes + np.dtype(np.float32).itemsize + np.dtype(np.bool_).itemsize
    return config.buffer_size * item_bytes
