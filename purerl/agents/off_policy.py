"""What the off-policy agents (DQN, SAC, TD3) share: the training loop over a replay buffer, its config,
and the target-network pieces (one-step critic target, Polyak averaging).

One `update` of an off-policy agent:

1. collect `num_steps` steps in each of `num_envs` environments, with uniformly random actions while
   fewer than `random_steps` environment steps have been taken (the warm-up that fills the buffer
   with broad data), with the learner's exploration policy afterwards;
2. let the learner `observe` the fresh rollout (optional: e.g. bootstrapped DQN resamples the head an
   environment follows when its episode ends, and draws per-transition bootstrap masks), then write
   those `num_envs * num_steps` transitions, with the extras `observe` returned, into the replay
   buffer (a pytree in the state);
3. take `gradient_steps` learner steps on minibatches sampled uniformly from the buffer. Until
   `learning_starts` environment steps have been taken the learner's new state is discarded with a
   `jnp.where` mask, not a `lax.cond`: under `vmap` over seeds a `cond` with a batched predicate
   becomes a `select` that runs both branches anyway, and a mask keeps one code path.

An algorithm supplies an `OffPolicyLearner` (how to initialise, explore, act and learn from a stack of
minibatches) and gets back a `purerl.loop.Algorithm` from `make_off_policy_algorithm`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from purerl import rollout
from purerl.config import Activation, NonNegativeInt, PositiveInt, Sizes, one_of
from purerl.envs import make
from purerl.envs.core import Env
from purerl.loop import Algorithm, RolloutConfig
from purerl.replay import ReplayBuffer, replay_add_batch, replay_init, replay_sample
from purerl.rollout import EnvBatch
from purerl.spaces import Box
from purerl.types import PRNGKey, Transition

REPLAY_OBS_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "uint8": jnp.uint8}


@dataclasses.dataclass(frozen=True)
class OffPolicyConfig(RolloutConfig):
    """Static options shared by the off-policy agents (environment, evaluation, envs and steps:
    `RolloutConfig`).

    Attributes:
        num_envs: parallel environments per seed.
        num_steps: steps taken in each environment per update.
        gradient_steps: learner steps per update. The replay ratio (gradient steps per environment
            step) is `gradient_steps / (num_envs * num_steps)`.
        batch_size: transitions per minibatch.
        buffer_size: replay capacity in transitions; at least `num_envs * num_steps`.
        learning_starts: environment steps before learner updates are kept.
        random_steps: environment steps acted with uniformly random actions (warm-up exploration).
        replay_obs_dtype: dtype observations are stored in ("float32", "bfloat16", "uint8"; uint8 is
            exact for 0/1 planes such as MinAtar's); sampled batches are cast back.
    """

    num_envs: PositiveInt = 4
    num_steps: PositiveInt = 1
    gradient_steps: PositiveInt = 4
    batch_size: PositiveInt = 128
    buffer_size: PositiveInt = 20_000
    learning_starts: NonNegativeInt = 1_000
    random_steps: NonNegativeInt = 1_000
    replay_obs_dtype: one_of(*REPLAY_OBS_DTYPES) = "float32"

    def check(self) -> None:
        name = type(self).__name__
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


@dataclasses.dataclass(frozen=True)
class ContinuousControlConfig(OffPolicyConfig):
    """`OffPolicyConfig` with the MLP actor and critics of SAC and TD3. Defaults: the tuned Pendulum-v1
    setting (replay ratio 1; 64-unit networks and 20k steps keep a many-seed run cheap on CPU; both
    agents solve Pendulum within ~10k steps with it).

    Attributes:
        hidden_sizes: widths of the actor's and each critic's MLP.
        activation: one of `networks.ACTIVATIONS`.
    """

    env_name: str = "Pendulum-v1"
    total_timesteps: PositiveInt = 20_000
    eval_episodes: PositiveInt = 10
    hidden_sizes: Sizes = (64, 64)
    activation: Activation = "relu"


class OffPolicyState(NamedTuple):
    """Training state of an off-policy agent (carried through `lax.scan`).

    Attributes:
        learner: the algorithm's own state (parameters, target parameters, optimiser states).
        buffer: replay buffer of `Transition`s, with the `extras` of `OffPolicyLearner.observe`.
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
        init: `(key, obs [B, ...], action [B, ...], hparams) -> learner_state`; the arrays are examples
            for shapes.
        explore: `(key, learner_state, env_steps, obs [B, ...], hparams) -> action [B, ...]`, the
            behaviour policy; `env_steps` (int32, steps taken so far) drives exploration schedules. (Not the
            whole state: a rollout closing over the replay buffer carries it through its loop, which
            measured 20% slower at 64 seeds.)
        act: `(key, learner_state, obs [B, ...]) -> action [B, ...]`, the evaluation policy.
        learn: `(key, learner_state, batches, hparams) -> (learner_state, metrics)`; `batches` is a
            `Transition` with leaves `[gradient_steps, batch_size, ...]`, metrics a dict of scalars.
        observe: optional `(key, learner_state, transitions [T, B], hparams) -> (learner_state, extras)`,
            called on every fresh rollout (also before `learning_starts`: its state change is never masked);
            `extras` (a dict of `[T, B, ...]` arrays) is stored with the transitions and comes back in
            `batches.extras`. None: nothing to observe, no extras.
    """

    init: Callable[[PRNGKey, jax.Array, jax.Array, Any], Any]
    explore: Callable[[PRNGKey, Any, jax.Array, jax.Array, Any], jax.Array]
    act: Callable[[PRNGKey, Any, jax.Array], jax.Array]
    learn: Callable[[PRNGKey, Any, Transition, Any], tuple[Any, dict[str, jax.Array]]]
    observe: Callable[[PRNGKey, Any, Transition, Any], tuple[Any, dict[str, jax.Array]]] | None = None


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


def periodic_target_update(
    grad_steps: jax.Array, period: int, tau: jax.Array, online: Any, target: Any
) -> Any:
    """The target network after gradient step `grad_steps` (1-based): `polyak_update` with `tau` on
    every `period`-th step, unchanged otherwise (`tau = 1`, `period = C`: DQN's hard copy every C steps)."""
    sync = grad_steps % period == 0
    return jax.tree.map(lambda t, o: jnp.where(sync, tau * o + (1.0 - tau) * t, t), target, online)


def scan_gradient_steps(
    step: Callable[[Any, Any], tuple[Any, dict[str, jax.Array]]], learner: Any, xs: Any
) -> tuple[Any, dict[str, jax.Array]]:
    """Runs `step(learner, x)` for each `x` along the leading axis `[G]` of `xs`, in order.

    Args:
        step: one gradient step (or group of steps): `(learner, x) -> (learner, metrics)`.
        learner: the learner state before the first step.
        xs: pytree with leaves `[G, ...]` (minibatches, keys).

    Returns:
        `(learner, metrics)`: the state after the last step and each metric averaged over the `G` steps.
    """
    learner, metrics = jax.lax.scan(step, learner, xs)
    return learner, {k: v.mean() for k, v in metrics.items()}


def bounded_action_box(env: Env, algo: str) -> Box:
    """The env's action box, which must be 1-D and finite (actions are squashed into it)."""
    space = env.spec.action_space
    if not isinstance(space, Box) or len(space.shape) != 1 or not space.bounded:
        raise ValueError(f"{algo} needs a bounded 1-D Box action space, but {env.spec.name} has {space}")
    return space


def _masked(active: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda n, o: jnp.where(active, n, o), new, old)


def make_off_policy_algorithm(
    config: OffPolicyConfig, env: Env, env_params: Any, learner: OffPolicyLearner
) -> Algorithm:
    """The shared collect -> store -> learn loop (module docstring) as a `purerl.loop.Algorithm`."""
    space = env.spec.action_space
    train_env = rollout.training_env(env)
    steps_per_update = config.steps_per_update
    store_dtype = REPLAY_OBS_DTYPES[config.replay_obs_dtype]
    if env.spec.discrete_actions:
        action_shape, action_dtype = (), jnp.int32
        uniform = lambda key, shape: jax.random.randint(key, shape, 0, space.n, jnp.int32)
    else:
        action_shape, action_dtype = space.shape, jnp.float32
        low, high = space.low_array, space.high_array
        uniform = lambda key, shape: jax.random.uniform(key, shape, jnp.float32, low, high)

    def observe(key: PRNGKey, learner_state: Any, traj: Transition, hparams: Any):
        if learner.observe is None:
            return learner_state, {}
        return learner.observe(key, learner_state, traj, hparams)

    def init(key: PRNGKey, hparams: Any) -> OffPolicyState:
        key_env, key_learner = jax.random.split(key)
        envs = rollout.reset_batch(key_env, train_env, env_params, config.num_envs)
        example_action = jnp.zeros((config.num_envs, *action_shape), action_dtype)
        learner_state = learner.init(key_learner, envs.obs, example_action, hparams)
        flags = jnp.zeros((1, config.num_envs), bool)
        rewards = jnp.zeros((1, config.num_envs), jnp.float32)
        traj = Transition(envs.obs[None], example_action[None], rewards, flags, flags, envs.obs[None], {})
        # The shapes of the extras `observe` stores (its outputs here are otherwise discarded).
        extras = jax.eval_shape(observe, key_learner, learner_state, traj, hparams)[1]
        obs = envs.obs[0].astype(store_dtype)
        flag = jnp.zeros((), bool)
        example_extras = {name: jnp.zeros(x.shape[2:], x.dtype) for name, x in extras.items()}
        example = Transition(obs, example_action[0], rewards[0, 0], flag, flag, obs, example_extras)
        buffer = replay_init(example, config.buffer_size)
        return OffPolicyState(learner_state, buffer, envs, jnp.zeros((), jnp.int32))

    def update(key: PRNGKey, state: OffPolicyState, hparams: Any):
        key_collect, key_sample, key_learn = jax.random.split(key, 3)
        key_observe = jax.random.fold_in(key_learn, 1)
        # Decided once per update, so the warm-up ends on a multiple of num_envs * num_steps.
        warm_up = state.env_steps < config.random_steps

        def policy(key, obs):
            key_explore, key_random = jax.random.split(key)
            explore = learner.explore(key_explore, state.learner, state.env_steps, obs, hparams)
            if not config.random_steps:
                return explore, {}
            return jnp.where(warm_up, uniform(key_random, explore.shape), explore), {}

        envs, traj, info = rollout.collect(
            key_collect, train_env, env_params, policy, state.envs, config.num_steps
        )
        observed, extras = observe(key_observe, state.learner, traj, hparams)
        items = traj._replace(
            obs=traj.obs.astype(store_dtype), final_obs=traj.final_obs.astype(store_dtype), extras=extras
        )
        buffer = replay_add_batch(state.buffer, jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), items))
        env_steps = state.env_steps + steps_per_update
        keys = jax.random.split(key_sample, config.gradient_steps)
        batches = jax.vmap(lambda k: replay_sample(k, buffer, config.batch_size))(keys)
        obs_dtype = state.envs.obs.dtype
        batches = batches._replace(
            obs=batches.obs.astype(obs_dtype), final_obs=batches.final_obs.astype(obs_dtype)
        )
        new_learner, metrics = learner.learn(key_learn, observed, batches, hparams)
        active = env_steps >= config.learning_starts
        learner_state = _masked(active, new_learner, observed)
        metrics = {k: jnp.where(active, v, jnp.zeros_like(v)) for k, v in metrics.items()}
        metrics["learning"] = active.astype(jnp.float32)
        metrics.update(rollout.episode_metrics(info))
        return OffPolicyState(learner_state, buffer, envs, env_steps), metrics

    def act(key: PRNGKey, state: OffPolicyState, obs: jax.Array) -> jax.Array:
        return learner.act(key, state.learner, obs)

    return Algorithm(init, update, act, steps_per_update)


def replay_memory_bytes(config: OffPolicyConfig) -> int:
    """Bytes of one seed's replay buffer: `buffer_size x` the size of one stored `Transition`.

    An item is `obs` and `final_obs` (in `replay_obs_dtype`), `action` (float32 or int32), `reward`
    (float32), `terminated` and `truncated` (bool, one byte each); e.g. 34 bytes on Pendulum-v1 (3-dim
    observation, 1-dim action).
    """
    env, _ = make(config.env_name, **dict(config.env_kwargs))
    obs_space, action_space = env.spec.observation_space, env.spec.action_space
    obs_bytes = int(np.prod(obs_space.shape)) * np.dtype(REPLAY_OBS_DTYPES[config.replay_obs_dtype]).itemsize
    action_bytes = int(np.prod(action_space.shape)) * 4
    item_bytes = 2 * obs_bytes + action_bytes + 4 + 2
    return config.buffer_size * item_bytes
