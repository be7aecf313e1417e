"""PQN: parallelised Q-learning without replay buffer or target network (Gallici et al., 2024,
"Simplifying Deep Temporal Difference Learning").

One update = collect `num_steps` epsilon-greedy steps in each of `num_envs` environments, compute
Q(lambda) targets with the network as it was during collection (Peng & Williams, 1996; Watkins, 1989,
here in the "lambda-returns of max-Q bootstraps" form PQN uses):

    G_t = r_t + gamma_t * ((1 - lambda_t) * max_a Q(final_obs_t, a) + lambda_t * G_{t+1})

with `gamma_t = gamma * (1 - terminated_t)` and the trace cut at every episode end (`returns.
lambda_returns`), so a truncated step bootstraps from `max_a Q(final_obs_t, a)` and a terminated one
from 0. Then `num_epochs` passes of `num_minibatches` shuffled minibatches regress `Q(obs_t, a_t)` onto
the fixed targets. Stability comes from LayerNorm in the Q-network (the paper's analysis, sec. 3-4)
and from many decorrelated parallel environments instead of a replay buffer.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from purerl import learn, returns, rollout
from purerl.agents import value_based
from purerl.agents.registry import AlgoSpec, Preset, register_algorithm
from purerl.config import NonNegative, Positive, PositiveInt, Sizes, Unit
from purerl.envs.core import Env
from purerl.exploration import RNDOptions, RNDState, add_novelty, epsilon_greedy, init_novelty
from purerl.loop import Algorithm, MinibatchConfig
from purerl.rollout import EnvBatch
from purerl.types import PRNGKey


@dataclasses.dataclass(frozen=True)
class PQNConfig(MinibatchConfig, value_based.QOptions, RNDOptions):
    """Static PQN options (environment, evaluation and network fields: `MinibatchConfig`, `QOptions`;
    the novelty bonus: `exploration.RNDOptions`). Defaults: tuned on CartPole-v1.

    `num_envs`, `num_steps`, `num_epochs` and `num_minibatches` are `MinibatchConfig`'s.
    """

    total_timesteps: PositiveInt = 250_000
    hidden_sizes: Sizes = (128, 128)
    num_envs: PositiveInt = 32
    num_steps: PositiveInt = 32
    num_epochs: PositiveInt = 2
    num_minibatches: PositiveInt = 4


class PQNHParams(NamedTuple):
    """Traced PQN hyperparameters: any field can be swept by stacking values and vmapping.

    Attributes:
        learning_rate: Adam step size (initial value when `anneal_lr`).
        gamma: discount.
        q_lambda: trace decay of the Q(lambda) targets (0: one-step Q-learning, 1: Monte Carlo).
        epsilon_start, epsilon_end, exploration_fraction: the epsilon-greedy behaviour policy's linear
            schedule (`value_based.exploration_epsilon`).
        max_grad_norm: global-norm gradient clipping.
        rnd_coef: weight of the novelty bonus in runs with `PQNConfig.rnd` (ignored elsewhere).
    """

    learning_rate: Positive = 2e-3
    gamma: Unit = 0.99
    q_lambda: Unit = 0.97
    epsilon_start: Unit = 1.0
    epsilon_end: Unit = 0.05
    exploration_fraction: Unit = 0.2
    max_grad_norm: Positive = 10.0
    rnd_coef: NonNegative = 1.0


PRESETS = {
    # Measured here on Breakout-MinAtar at a CPU budget (4 seeds x 197k steps: final IQM 6.3, random
    # policy 0.4). The PQN authors' MinAtar setting (purejaxql config pqn_minatar.yaml: 128 envs x 32
    # steps, 2 epochs x 32 minibatches, lr 5e-4, exploration over 10% of the run) is the alternative
    # for accelerators; it was not run here.
    "minatar": Preset(
        config={
            "total_timesteps": 10_000_000,
            "num_minibatches": 2,
            "network": "minatar_cnn",
            "hidden_sizes": (128,),
            "eval_max_steps": 1000,
        },
        hparams={"learning_rate": 1e-3, "q_lambda": 0.65},
    ),
}


class PQNState(NamedTuple):
    """Everything PQN carries between updates.

    Attributes:
        params: Q-network parameters.
        opt_state: optimiser state.
        envs: the training environments.
        env_steps: int32, env steps collected so far (all environments together).
    """

    params: Any
    opt_state: Any
    envs: EnvBatch
    env_steps: jax.Array
    # The novelty bonus' networks and statistics (`PQNConfig.rnd`), else None.
    rnd: RNDState | None = None


def q_lambda_targets(
    rewards: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    next_q: jax.Array,
    gamma: Any,
    q_lambda: Any,
) -> jax.Array:
    """PQN's Q(lambda) targets for a time-major rollout (Gallici et al., 2024, sec. 4):

        G_t = r_t + gamma_t * ((1 - l_t) * max_a next_q_t[a] + l_t * G_{t+1}),
        gamma_t = gamma * (1 - terminated_t),  l_t = q_lambda * (1 - (terminated_t | truncated_t))

    and `l_{T-1} = 0` (the rollout's last step bootstraps), via `returns.lambda_returns`.

    Args:
        rewards: `[T, B]` rewards.
        terminated: `[T, B]` bool.
        truncated: `[T, B]` bool.
        next_q: `[T, B, A]` Q-values of `final_obs_t` (the observation before auto-reset).
        gamma: discount (may be traced).
        q_lambda: trace decay (may be traced).

    Returns:
        `[T, B]` float32 targets.
    """
    discounts = gamma * (1.0 - terminated.astype(jnp.float32))
    ends = terminated | truncated
    return returns.batch_time_major(returns.lambda_returns)(
        rewards, discounts, q_lambda, next_q.max(axis=-1), ends
    )


def build(config: PQNConfig, env: Env, env_params: Any) -> Algorithm:
    """PQN's pure functions for `config` on `env` (see `purerl.loop.Algorithm`)."""
    train_env = rollout.training_env(env)
    network = value_based.make_q_network(env.spec, config)
    regression_loss = value_based.LOSSES[config.loss]
    steps_per_update = config.steps_per_update
    grad_steps = config.grad_steps_per_update

    def optimizer(hparams: PQNHParams) -> optax.GradientTransformation:
        decay_steps = config.updates_run * grad_steps if config.anneal_lr else 0
        return learn.make_optimizer(hparams.learning_rate, hparams.max_grad_norm, decay_steps=decay_steps)

    def init(key: PRNGKey, hparams: PQNHParams) -> PQNState:
        key_net, key_env = jax.random.split(key)
        envs = rollout.reset_batch(key_env, train_env, env_params, config.num_envs)
        params = network.init(key_net, envs.obs)
        rnd_state = init_novelty(config, jax.random.fold_in(key_net, 1), envs.obs, hparams)
        return PQNState(params, optimizer(hparams).init(params), envs, jnp.zeros((), jnp.int32), rnd_state)

    def loss_fn(params, batch):
        q_taken = value_based.taken_action_values(network.apply(params, batch["obs"]), batch["action"])
        loss = regression_loss(q_taken, batch["target"])
        return loss, {"loss": loss, "q_mean": q_taken.mean()}

    def update(key: PRNGKey, state: PQNState, hparams: PQNHParams):
        key_collect, key_learn = jax.random.split(key)
        epsilon = value_based.exploration_epsilon(hparams, config, state.env_steps)

        def policy(key, obs):
            return epsilon_greedy(key, network.apply(state.params, obs), epsilon), {}

        envs, traj, info = rollout.collect(
            key_collect, train_env, env_params, policy, state.envs, config.num_steps
        )
        rewards, rnd_state, rnd_metrics = add_novelty(config, state.rnd, traj, hparams)
        # Targets use the parameters the rollout was collected with, and stay fixed for every epoch.
        next_q = network.apply(state.params, traj.final_obs)
        targets = q_lambda_targets(
            rewards, traj.terminated, traj.truncated, next_q, hparams.gamma, hparams.q_lambda
        )
        flat = {"obs": traj.obs, "action": traj.action.astype(jnp.int32), "target": targets}
        flat = jax.tree.map(lambda x: x.reshape((steps_per_update, *x.shape[2:])), flat)
        params, opt_state, metrics = learn.minibatch_epochs(
            key_learn,
            optimizer(hparams),
            loss_fn,
            state.params,
            state.opt_state,
            flat,
            config.num_epochs,
            config.num_minibatches,
        )
        metrics.update(rollout.episode_metrics(info), **rnd_metrics)
        metrics["epsilon"] = epsilon
        metrics["target_mean"] = targets.mean()
        new_state = PQNState(params, opt_state, envs, state.env_steps + steps_per_update, rnd_state)
        return new_state, metrics

    act = value_based.make_q_act(network, config, lambda state: state.params)
    return Algorithm(init, update, act, steps_per_update)


SUMMARY = "PQN: parallel Q(lambda) with LayerNorm, no replay buffer or target network"
SPEC = register_algorithm(AlgoSpec("pqn", SUMMARY, PQNConfig, PQNHParams, build, ("discrete",), PRESETS))
make_train, preset = SPEC.make_train, SPEC.preset
