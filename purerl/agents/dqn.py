"""Deep Q-Network (Mnih et al., 2015, "Human-level control through deep reinforcement learning"), with the
double-DQN target (van Hasselt et al., 2016) and the dueling head (Wang et al., 2016) as switches.

One update = collect `num_steps` epsilon-greedy steps in each of `num_envs` environments, add them to a
replay buffer that lives in the agent state (the shared loop of `agents.off_policy`), then take
`gradient_steps` gradient steps on uniformly sampled minibatches. Until `learning_starts` environment
steps were collected the gradient steps are computed but *masked out* (parameters, optimiser and target
network keep their values): under `vmap` a `lax.cond` on the buffer size would run both branches anyway.

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

from purerl import learn
from purerl.agents.off_policy import (
    OffPolicyConfig,
    OffPolicyLearner,
    OffPolicyState,
    make_off_policy_algorithm,
    periodic_target_update,
    scan_gradient_steps,
)
from purerl.agents.registry import AlgoSpec, Component, Preset, register_algorithm
from purerl.agents.value_based import (
    LOSSES,
    QOptions,
    exploration_epsilon,
    make_q_act,
    make_q_network,
    taken_action_values,
)
from purerl.config import Flag, NonNegativeInt, Positive, PositiveInt, Unit, UnitPositive, one_of
from purerl.envs.core import Env
from purerl.exploration import epsilon_greedy
from purerl.loop import Algorithm
from purerl.types import PRNGKey, Transition


@dataclasses.dataclass(frozen=True)
class DQNConfig(OffPolicyConfig, QOptions):
    """Static DQN options: the replay loop's (`OffPolicyConfig`), the Q-network's (`QOptions`) and the
    target network's. Defaults: the CartPole-v1 setting (16 envs x 8 steps, 16 gradient steps of 128,
    double + dueling + LayerNorm, Polyak tau 0.02 every step, 200k steps).

    Attributes:
        target_update_period: gradient steps between target-network updates.
        double_dqn: double-DQN target (van Hasselt et al., 2016).
    """

    total_timesteps: PositiveInt = 200_000
    num_envs: PositiveInt = 16
    num_steps: PositiveInt = 8
    gradient_steps: PositiveInt = 16
    buffer_size: PositiveInt = 50_000
    learning_starts: NonNegativeInt = 2_048
    random_steps: NonNegativeInt = 0
    loss: one_of("mse", "huber") = "huber"
    dueling: Flag = True
    target_update_period: PositiveInt = 1
    double_dqn: Flag = True

    def check(self) -> None:
        super().check()
        if self.buffer_size < self.batch_size:
            raise ValueError(
                f"DQNConfig.buffer_size={self.buffer_size} is smaller than batch_size={self.batch_size}"
            )
        if self.learning_starts < self.batch_size:
            raise ValueError(
                f"DQNConfig.learning_starts={self.learning_starts} must be >= batch_size={self.batch_size}, "
                "so the first minibatches are drawn from at least batch_size transitions"
            )


class DQNHParams(NamedTuple):
    """Traced DQN hyperparameters: any field can be swept by stacking values and vmapping.

    Attributes:
        learning_rate: Adam step size.
        gamma: discount.
        tau: target update coefficient (1 = hard copy).
        epsilon_start, epsilon_end, exploration_fraction: the epsilon-greedy behaviour policy's linear
            schedule (`value_based.exploration_epsilon`).
        max_grad_norm: global-norm gradient clipping.
    """

    learning_rate: Positive = 1.2e-3
    gamma: Unit = 0.99
    tau: UnitPositive = 0.02
    epsilon_start: Unit = 1.0
    epsilon_end: Unit = 0.01
    exploration_fraction: Unit = 0.2
    max_grad_norm: Positive = 10.0


PRESETS = {
    # Measured here on Breakout-MinAtar at a CPU budget (2 seeds x 98k steps: final IQM 3.5 and still
    # rising, random policy 0.4); the 10M-step length follows MinAtar practice (Young & Tian, 2019)
    # and was not run here. Observations are 0/1 planes, so uint8 replay storage is exact.
    "minatar": Preset(
        config={
            "total_timesteps": 10_000_000,
            "num_envs": 32,
            "num_steps": 4,
            "gradient_steps": 4,
            "buffer_size": 100_000,
            "learning_starts": 5_000,
            "network": "minatar_cnn",
            "hidden_sizes": (128,),
            "replay_obs_dtype": "uint8",
            "eval_max_steps": 1000,
        },
        hparams={"learning_rate": 5e-4, "tau": 0.01, "epsilon_end": 0.05, "exploration_fraction": 0.1},
    ),
}


class DQNLearner(NamedTuple):
    """DQN's own part of the training state (`OffPolicyState.learner`).

    Attributes:
        params: online Q-network parameters.
        target_params: target-network parameters.
        opt_state: optimiser state (its count is the number of gradient steps that took effect).
        grad_steps: int32 scalar, gradient steps taken (for the target-update period).
    """

    params: Any
    target_params: Any
    opt_state: Any
    grad_steps: jax.Array


# The state `train` carries: the shared off-policy state with a `DQNLearner` inside.
DQNState = OffPolicyState


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


# (apply_fn, params, target_params, batch [N], hparams, config) -> targets [N], outside the gradient.
TargetFn = Callable[[Callable, Any, Any, Transition, Any, Any], jax.Array]


def dqn_targets(
    apply_fn: Callable, params: Any, target_params: Any, batch: Transition, hparams: Any, config: Any
):
    """DQN's `TargetFn`: `transition_targets` with the config's double-DQN switch."""
    return transition_targets(apply_fn, params, target_params, batch, hparams.gamma, config.double_dqn)


def build(config: DQNConfig, env: Env, env_params: Any, targets_fn: TargetFn = dqn_targets) -> Algorithm:
    """DQN's pure functions for `config` on `env` (see `purerl.loop.Algorithm`).

    `targets_fn` is the one-step target; a variant of DQN (e.g. `agents.expected_sarsa`) passes its own
    and keeps everything else: replay, exploration, target network, optimiser.
    """
    network = make_q_network(env.spec, config)
    regression_loss = LOSSES[config.loss]
    steps_per_update = config.steps_per_update
    # Updates whose gradient steps take effect: from the first one that ends with >= learning_starts
    # env steps collected (update u ends with (u + 1) * steps_per_update steps).
    first_learning_update = -(-config.learning_starts // steps_per_update) - 1
    learning_grad_steps = max(1, (config.updates_run - first_learning_update) * config.gradient_steps)

    def optimizer(hparams: DQNHParams) -> optax.GradientTransformation:
        # The optimiser state is masked before learning starts, so its count is the effective step.
        decay_steps = learning_grad_steps if config.anneal_lr else 0
        return learn.make_optimizer(hparams.learning_rate, hparams.max_grad_norm, decay_steps=decay_steps)

    def init(key: PRNGKey, obs: jax.Array, action: jax.Array, hparams: DQNHParams) -> DQNLearner:
        params = network.init(key, obs)
        return DQNLearner(params, params, optimizer(hparams).init(params), jnp.zeros((), jnp.int32))

    def explore(key: PRNGKey, ls: DQNLearner, env_steps: jax.Array, obs: jax.Array, hparams: DQNHParams):
        epsilon = exploration_epsilon(hparams, config, env_steps)
        return epsilon_greedy(key, network.apply(ls.params, obs), epsilon)

    def loss_fn(params, batch_and_target):
        batch, target_params, hparams = batch_and_target
        targets = jax.lax.stop_gradient(
            targets_fn(network.apply, params, target_params, batch, hparams, config)
        )
        q_taken = taken_action_values(network.apply(params, batch.obs), batch.action)
        loss = regression_loss(q_taken, targets)
        return loss, {"loss": loss, "q_mean": q_taken.mean(), "target_mean": targets.mean()}

    def learn_fn(key: PRNGKey, ls: DQNLearner, batches: Transition, hparams: DQNHParams):
        tx = optimizer(hparams)

        def step(ls: DQNLearner, batch: Transition):
            params, opt_state, metrics, _ = learn.gradient_step(
                tx, loss_fn, ls.params, ls.opt_state, (batch, ls.target_params, hparams)
            )
            grad_steps = ls.grad_steps + 1
            target_params = periodic_target_update(
                grad_steps, config.target_update_period, hparams.tau, params, ls.target_params
            )
            return DQNLearner(params, target_params, opt_state, grad_steps), metrics

        return scan_gradient_steps(step, ls, batches)

    act = make_q_act(network, config, lambda ls: ls.params)
    learner = OffPolicyLearner(init, explore, act, learn_fn)
    return make_off_policy_algorithm(config, env, env_params, learner)


# What `purerl ablate dqn` can switch off (see `purerl.ablate`).
COMPONENTS = {
    c.name: c
    for c in (
        Component(
            "target_network",
            "a separate target network; off: tau = 1 every gradient step, so each target bootstraps from "
            "the current online parameters (1 * online + 0 * target is exact)",
            {"tau": 1.0},
            requires={"target_update_period": 1},
        ),
        Component(
            "double_dqn", "double-DQN target; off: max_a Q_target(s', a)", {"double_dqn": False}, static=True
        ),
        Component("dueling", "dueling head; off: a plain Q head", {"dueling": False}, static=True),
    )
}

SUMMARY = "Deep Q-Network with replay in the state; double-DQN target and dueling head as switches"
SPEC = register_algorithm(
    AlgoSpec("dqn", SUMMARY, DQNConfig, DQNHParams, build, ("discrete",), PRESETS, components=COMPONENTS)
)
make_train, preset = SPEC.make_train, SPEC.preset
