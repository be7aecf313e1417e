"""Deep Q-Network (Mnih et al., 2015, "Human-level control through deep reinforcement learning"), with the
double-DQN target (van Hasselt et al., 2016) and the dueling head (Wang et al., 2016) as switches.

One update = collect `num_steps` epsilon-greedy steps in each of `num_envs` environments, add them to a
replay buffer that lives in the agent state (`purerl.replay`), then take `num_gradient_steps` gradient
steps on uniformly sampled minibatches. Until `learning_starts` environment steps were collected the
gradient steps are computed but *masked out* (parameters, optimiser and target network keep their
values): under `vmap` a `lax.cond` on the buffer size would run both branches anyway.

Targets bootstrap from `final_obs`, the observation reached before any auto-reset:

    y = r + gamma * (1 - terminated) * Q_target(final_obs, argmax_a Q(final_obs, a))   (double DQN)
    y = r + gamma * (1 - terminated) * max_a Q_target(final_obs, a)                     (vanilla)

so a time-limit truncation bootstraps from the true next state and only a termination cuts it.
The target network follows the online one every `target_update_period` gradient steps with
`target <- tau * online + (1 - tau) * target` (`tau = 1`: the hard copy of Mnih et al.; small `tau`
with period 1: Polyak averaging, Lillicrap et al., 2016).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from purerl import rollout
from purerl.agents.common import adam_with_clipping, make_env, make_q_evaluator
from purerl.agents.registry import AlgoSpec, register_algorithm
from purerl.config import (
    POSITIVE,
    UNIT,
    Range,
    check_choice,
    check_positive_int,
    unknown_name_message,
)
from purerl.envs import registered
from purerl.exploration import epsilon_greedy, linear_schedule
from purerl.loop import Agent
from purerl.losses import huber_loss, mse_loss
from purerl.networks import ACTIVATIONS, DiscreteQNetwork
from purerl.replay import ReplayBuffer, replay_add_batch, replay_init, replay_sample
from purerl.rollout import EnvBatch
from purerl.types import PRNGKey, Transition

LOSSES = {"huber": huber_loss, "mse": mse_loss}
# Observation dtypes the replay buffer may store. "uint8" quarters the memory of binary/integer
# observations (MinAtar's are 0/1 planes) and is exact only for them.
REPLAY_OBS_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "uint8": jnp.uint8}


@dataclasses.dataclass(frozen=True)
class DQNConfig:
    """Static DQN options (shapes, loop lengths, switches). Validated on construction.

    Attributes:
        env_name: registered environment name (discrete actions).
        total_timesteps: env steps per seed; rounded down to whole evaluation blocks.
        num_envs: parallel environments per seed.
        num_steps: steps collected in each environment per update (`num_envs * num_steps` new
            transitions per update).
        num_gradient_steps: gradient steps per update (replay ratio = num_gradient_steps * batch_size /
            (num_envs * num_steps) samples per collected transition).
        batch_size: transitions per gradient step.
        buffer_capacity: replay buffer size in transitions.
        learning_starts: env steps collected before gradient steps take effect; `>= batch_size`.
        target_update_period: gradient steps between target-network updates.
        loss: "huber" (Mnih et al.) or "mse".
        double_dqn: use the double-DQN target (van Hasselt et al., 2016).
        dueling: dueling value/advantage head (Wang et al., 2016).
        network: "mlp" or "minatar_cnn" torso.
        hidden_sizes: torso widths (the CNN uses the last one for its dense layer).
        activation: one of `networks.ACTIVATIONS`.
        layer_norm: LayerNorm after each hidden layer.
        anneal_lr: decay the learning rate linearly to 0 over the gradient steps that take effect.
        replay_obs_dtype: dtype observations are stored in ("float32", "bfloat16", "uint8").
        eval_every: updates between evaluations; 0 picks `num_updates // 20` (at least 1).
        eval_episodes: evaluation episodes per evaluation.
        eval_max_steps: step cap of an evaluation episode; 0 uses the env's episode limit.
    """

    # Defaults: tuned on CartPole-v1 (see `purerl.defaults` for other environment families).
    env_name: str = "CartPole-v1"
    total_timesteps: int = 200_000
    num_envs: int = 16
    num_steps: int = 8
    num_gradient_steps: int = 16
    batch_size: int = 128
    buffer_capacity: int = 50_000
    learning_starts: int = 2_048
    target_update_period: int = 1
    loss: str = "huber"
    double_dqn: bool = True
    dueling: bool = True
    network: str = "mlp"
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    layer_norm: bool = True
    anneal_lr: bool = True
    replay_obs_dtype: str = "float32"
    eval_every: int = 0
    eval_episodes: int = 16
    eval_max_steps: int = 0

    def __post_init__(self):
        if self.env_name not in registered():
            raise ValueError(
                "DQNConfig.env_name: " + unknown_name_message("environment", self.env_name, registered())
            )
        check_positive_int(
            self,
            "total_timesteps",
            "num_envs",
            "num_steps",
            "num_gradient_steps",
            "batch_size",
            "buffer_capacity",
            "target_update_period",
            "eval_episodes",
        )
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        if not self.hidden_sizes or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden_sizes
        ):
            raise ValueError(f"DQNConfig.hidden_sizes must be positive integers, got {self.hidden_sizes!r}")
        check_choice(self, "loss", tuple(LOSSES))
        check_choice(self, "network", ("mlp", "minatar_cnn"))
        check_choice(self, "activation", tuple(ACTIVATIONS))
        check_choice(self, "replay_obs_dtype", tuple(REPLAY_OBS_DTYPES))
        for name in ("double_dqn", "dueling", "layer_norm", "anneal_lr"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"DQNConfig.{name} must be a bool, got {getattr(self, name)!r}")
        for name in ("learning_starts", "eval_every", "eval_max_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"DQNConfig.{name} must be a non-negative integer, got {value!r}")
        if self.buffer_capacity < self.batch_size:
            raise ValueError(
                f"DQNConfig.buffer_capacity={self.buffer_capacity} is smaller than "
                f"batch_size={self.batch_size}"
            )
        if self.buffer_capacity < self.steps_per_update:
            raise ValueError(
                f"DQNConfig.buffer_capacity={self.buffer_capacity} cannot hold one update's transitions "
                f"(num_envs * num_steps = {self.steps_per_update})"
            )
        if self.learning_starts < self.batch_size:
            raise ValueError(
                f"DQNConfig.learning_starts={self.learning_starts} must be >= batch_size={self.batch_size}, "
                "so the first minibatches are drawn from at least batch_size transitions"
            )
        if self.total_timesteps < self.steps_per_update:
            raise ValueError(
                f"DQNConfig.total_timesteps={self.total_timesteps} is smaller than one update "
                f"(num_envs * num_steps = {self.steps_per_update})"
            )
        if self.learning_starts >= self.num_updates * self.steps_per_update:
            raise ValueError(
                f"DQNConfig.learning_starts={self.learning_starts} is not below the run's "
                f"{self.num_updates * self.steps_per_update} env steps: no gradient step would take effect"
            )
        if self.eval_every > self.num_updates:
            raise ValueError(
                f"DQNConfig.eval_every={self.eval_every} exceeds the number of updates ({self.num_updates})"
            )

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update


class DQNHParams(NamedTuple):
    """Traced DQN hyperparameters: any field can be swept by stacking values and vmapping.

    Attributes:
        learning_rate: Adam step size.
        gamma: discount.
        tau: target update coefficient (1 = hard copy).
        epsilon_start: exploration rate at the first step.
        epsilon_end: exploration rate after the decay.
        exploration_fraction: fraction of the run's env steps over which epsilon decays linearly.
        max_grad_norm: global-norm gradient clipping.
        eval_epsilon: exploration rate of evaluation episodes (0 = greedy).
    """

    learning_rate: float = 1.2e-3
    gamma: float = 0.99
    tau: float = 0.02
    epsilon_start: float = 1.0
    epsilon_end: float = 0.01
    exploration_fraction: float = 0.2
    max_grad_norm: float = 10.0
    eval_epsilon: float = 0.0


HPARAM_RANGES = {
    "learning_rate": POSITIVE,
    "gamma": UNIT,
    "tau": Range(0.0, 1.0, low_open=True),
    "epsilon_start": UNIT,
    "epsilon_end": UNIT,
    "exploration_fraction": UNIT,
    "max_grad_norm": Range(0.0, low_open=True),
    "eval_epsilon": UNIT,
}


class DQNState(NamedTuple):
    """Everything DQN carries between updates.

    Attributes:
        params: online Q-network parameters.
        target_params: target Q-network parameters.
        opt_state: optimiser state (advances only on gradient steps that take effect).
        buffer: replay buffer of `Transition`s (obs stored as `replay_obs_dtype`, extras empty).
        envs: the training environments.
        env_steps: int32, env steps collected so far (all environments together).
        grad_steps: int32, gradient steps that took effect so far.
    """

    params: Any
    target_params: Any
    opt_state: Any
    buffer: ReplayBuffer
    envs: EnvBatch
    env_steps: jax.Array
    grad_steps: jax.Array


def q_learning_targets(
    rewards: jax.Array,
    discounts: jax.Array,
    next_q_target: jax.Array,
    next_q_online: jax.Array | None = None,
) -> jax.Array:
    """One-step Q-learning targets for a flat batch.

        vanilla (Mnih et al., 2015):        y = r + discount * max_a Q_target(s', a)
        double (van Hasselt et al., 2016):  y = r + discount * Q_target(s', argmax_a Q_online(s', a))

    Args:
        rewards: `[N]` rewards.
        discounts: `[N]` `gamma * (1 - terminated)`.
        next_q_target: `[N, A]` target-network values of the next observations (`final_obs`).
        next_q_online: `[N, A]` online-network values of the same observations; `None` for vanilla.

    Returns:
        `[N]` float32 targets (not gradient-stopped; callers compute them outside the loss).
    """
    if next_q_online is None:
        next_values = next_q_target.max(axis=-1)
    else:
        greedy = jnp.argmax(next_q_online, axis=-1)
        next_values = jnp.take_along_axis(next_q_target, greedy[..., None], axis=-1)[..., 0]
    return rewards.astype(jnp.float32) + discounts * next_values


def transition_targets(
    apply_fn: Callable[[Any, jax.Array], jax.Array],
    params: Any,
    target_params: Any,
    batch: Transition,
    gamma: Any,
    double_dqn: bool,
) -> jax.Array:
    """DQN targets for a flat batch of stored transitions, bootstrapping from `final_obs`.

    `discount = gamma * (1 - terminated)`: a terminated transition's target is its reward; a truncated
    one bootstraps from `Q(final_obs)`, the observation before auto-reset (never the next episode's
    first observation, which `obs` of the following step holds).

    Args:
        apply_fn: `(params, obs [N, *obs_shape]) -> Q [N, A]`.
        params: online parameters (pick the greedy next action when `double_dqn`).
        target_params: target-network parameters (evaluate the next action).
        batch: `Transition` with leaves `[N, ...]`.
        gamma: discount (may be traced).
        double_dqn: static switch for the double-DQN target.

    Returns:
        `[N]` float32 targets.
    """
    final_obs = batch.final_obs.astype(jnp.float32)
    next_q_target = apply_fn(target_params, final_obs)
    next_q_online = apply_fn(params, final_obs) if double_dqn else None
    discounts = gamma * (1.0 - batch.terminated.astype(jnp.float32))
    return q_learning_targets(batch.reward, discounts, next_q_target, next_q_online)


def make_agent(config: DQNConfig) -> Agent:
    """Build DQN's pure functions for `config` (see `purerl.loop.Agent`)."""
    env, env_params = make_env(config.env_name, "dqn", SPEC.action_spaces)
    spec = env.spec
    train_env = rollout.training_env(env)
    network = DiscreteQNetwork(
        spec.action_space.n,
        config.network,
        config.hidden_sizes,
        config.activation,
        config.layer_norm,
        config.dueling,
        obs_ndim=len(spec.observation_space.shape),
    )
    regression_loss = LOSSES[config.loss]
    obs_dtype = REPLAY_OBS_DTYPES[config.replay_obs_dtype]
    num_updates = config.num_updates
    eval_every = config.eval_every or max(1, num_updates // 20)
    num_blocks = num_updates // eval_every
    steps_per_update = config.steps_per_update
    total_env_steps = num_blocks * eval_every * steps_per_update
    eval_max_steps = config.eval_max_steps or spec.max_episode_steps
    # Updates whose gradient steps take effect: from the first one that ends with >= learning_starts
    # env steps collected (update u ends with (u + 1) * steps_per_update steps).
    first_learning_update = -(-config.learning_starts // steps_per_update) - 1
    learning_grad_steps = max(
        1, (num_blocks * eval_every - first_learning_update) * config.num_gradient_steps
    )

    def optimizer(hparams: DQNHParams) -> optax.GradientTransformation:
        if not config.anneal_lr:
            return adam_with_clipping(hparams.learning_rate, hparams.max_grad_norm)
        # The optimiser state is masked before learning starts, so its count is the effective step.
        schedule = lambda count: hparams.learning_rate * (1.0 - count / learning_grad_steps)
        return adam_with_clipping(schedule, hparams.max_grad_norm)

    def init(key: PRNGKey, hparams: DQNHParams) -> DQNState:
        key_net, key_env = jax.random.split(key)
        envs = rollout.reset_batch(train_env, env_params, key_env, config.num_envs)
        params = network.init(key_net, envs.obs)
        obs = envs.obs[0].astype(obs_dtype)
        example = Transition(
            obs=obs,
            action=jnp.zeros((), jnp.int32),
            reward=jnp.zeros((), jnp.float32),
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
            final_obs=obs,
            extras={},
        )
        zero = jnp.zeros((), jnp.int32)
        return DQNState(
            params,
            params,
            optimizer(hparams).init(params),
            replay_init(example, config.buffer_capacity),
            envs,
            zero,
            zero,
        )

    def loss_fn(params, target_params, batch: Transition, hparams: DQNHParams):
        targets = jax.lax.stop_gradient(
            transition_targets(network.apply, params, target_params, batch, hparams.gamma, config.double_dqn)
        )
        q_all = network.apply(params, batch.obs.astype(jnp.float32))
        q_taken = jnp.take_along_axis(q_all, batch.action[:, None].astype(jnp.int32), axis=-1)[:, 0]
        loss = regression_loss(q_taken, targets)
        return loss, {"loss": loss, "q_mean": q_taken.mean(), "target_mean": targets.mean()}

    def update(state: DQNState, hparams: DQNHParams, key: PRNGKey):
        key_collect, key_learn = jax.random.split(key)
        tx = optimizer(hparams)
        epsilon = linear_schedule(
            hparams.epsilon_start,
            hparams.epsilon_end,
            hparams.exploration_fraction * total_env_steps,
            state.env_steps,
        )

        def policy(obs, key):
            return epsilon_greedy(key, network.apply(state.params, obs), epsilon), {}

        envs, traj, info = rollout.collect(
            train_env, env_params, policy, state.envs, key_collect, config.num_steps
        )
        items = traj._replace(obs=traj.obs.astype(obs_dtype), final_obs=traj.final_obs.astype(obs_dtype))
        items = jax.tree.map(lambda x: x.reshape((steps_per_update, *x.shape[2:])), items)
        buffer = replay_add_batch(state.buffer, items)
        env_steps = state.env_steps + steps_per_update
        learning = env_steps >= config.learning_starts

        def gradient_step(carry, key):
            params, target_params, opt_state, grad_steps = carry
            batch = replay_sample(buffer, key, config.batch_size)
            grads, metrics = jax.grad(loss_fn, has_aux=True)(params, target_params, batch, hparams)
            updates, new_opt_state = tx.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            # Masked rather than branched: before learning_starts everything keeps its value.
            params, opt_state = jax.tree.map(
                lambda new, old: jnp.where(learning, new, old),
                (new_params, new_opt_state),
                (params, opt_state),
            )
            grad_steps = grad_steps + learning.astype(jnp.int32)
            sync = learning & (grad_steps % config.target_update_period == 0)
            target_params = jax.tree.map(
                lambda online, target: jnp.where(
                    sync, hparams.tau * online + (1.0 - hparams.tau) * target, target
                ),
                params,
                target_params,
            )
            return (params, target_params, opt_state, grad_steps), metrics

        carry = (state.params, state.target_params, state.opt_state, state.grad_steps)
        (params, target_params, opt_state, grad_steps), metrics = jax.lax.scan(
            gradient_step, carry, jax.random.split(key_learn, config.num_gradient_steps)
        )
        metrics = {k: v.mean() for k, v in metrics.items()}
        metrics.update(rollout.episode_metrics(info))
        metrics["epsilon"] = epsilon
        metrics["learning"] = learning.astype(jnp.float32)
        new_state = DQNState(params, target_params, opt_state, buffer, envs, env_steps, grad_steps)
        return new_state, metrics

    evaluate = make_q_evaluator(env, env_params, network, config.eval_episodes, eval_max_steps)
    return Agent(init, update, evaluate, num_blocks, eval_every, steps_per_update)


SPEC = register_algorithm(
    AlgoSpec(
        name="dqn",
        summary="Deep Q-Network with replay in the state; double-DQN target and dueling head as switches",
        config_cls=DQNConfig,
        hparams_cls=DQNHParams,
        make_agent=make_agent,
        hparam_ranges=HPARAM_RANGES,
        action_spaces=("discrete",),
    )
)
validate = SPEC.validate_hparams
make_train = SPEC.make_train
