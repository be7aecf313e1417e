"""Advantage actor-critic, synchronous (A2C): the batched variant of A3C (Mnih et al., 2016, "Asynchronous
methods for deep reinforcement learning", algorithm S3), with n-step or GAE advantages.

One update:

1. roll out a short segment of `num_steps` steps in each of `num_envs` environments (which keep running
   across updates);
2. compute advantages and value targets outside the gradient, either
   * "nstep": n-step returns `G_t` (`returns.n_step_returns`; `n_step = 0` means the longest return the
     segment allows, A3C's forward view), with `A_t = G_t - V(s_t)`; or
   * "gae": generalized advantage estimation (`returns.gae`; Schulman et al., 2016) with targets
     `A_t + V(s_t)`;
   both bootstrap from `V(final_obs)` at truncations and at the segment end, and from 0 at terminations;
3. take one gradient step (RMSProp, as in the paper, or Adam) on

       L = -mean(A_t log pi(a_t|s_t)) + vf_coef * 0.5 * mean((V(s_t) - G_t)^2)
           - ent_coef * mean(H[pi(.|s_t)]).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Annotated, Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from purerl import learn, returns, rollout
from purerl.agents import actor_critic
from purerl.agents.registry import AlgoSpec, Preset, register_algorithm
from purerl.config import Flag, NonNegative, NonNegativeInt, Positive, PositiveInt, Range, Unit, one_of
from purerl.envs.core import Env
from purerl.loop import Algorithm, RolloutConfig
from purerl.losses import mse_loss, normalize, policy_gradient_loss
from purerl.networks import ActorCritic
from purerl.normalization import RunningMeanStd
from purerl.rollout import EnvBatch
from purerl.types import Array, PRNGKey


@dataclasses.dataclass(frozen=True)
class A2CConfig(RolloutConfig, actor_critic.PolicyOptions):
    """Static A2C options (environment, evaluation and network fields: `RolloutConfig`, `PolicyOptions`).

    Attributes:
        num_envs: parallel environments per seed.
        num_steps: rollout length per update (the "t_max" of A3C).
        advantage: "gae" or "nstep" (see the module docstring).
        n_step: horizon of the n-step return, `1 <= n_step <= num_steps`; 0 uses `num_steps` (every
            step bootstraps at the segment's end, as in A3C). Only used with `advantage="nstep"`.
        optimizer: "rmsprop" (PyTorch convention, `eps` outside the root) or "adam".
        normalize_advantages: standardise the advantages of each update.
        normalize_reward: scale rewards by the running std of the discounted return.
    """

    num_envs: PositiveInt = 8
    num_steps: PositiveInt = 5
    advantage: one_of("gae", "nstep") = "gae"
    n_step: NonNegativeInt = 0
    optimizer: one_of("rmsprop", "adam") = "rmsprop"
    normalize_advantages: Flag = False
    normalize_reward: Flag = False

    def check(self) -> None:
        if self.n_step > self.num_steps:
            raise ValueError(
                f"A2CConfig.n_step must be an integer in [0, num_steps={self.num_steps}] (0 = num_steps), "
                f"got {self.n_step!r}"
            )


class A2CHParams(NamedTuple):
    """Traced A2C hyperparameters: any field can be swept by stacking values and vmapping.

    Attributes:
        learning_rate: optimiser step size.
        gamma: discount.
        gae_lambda: GAE trace decay (only with `advantage="gae"`; 1 gives the same advantages as
            "nstep" with `n_step = num_steps`).
        ent_coef: entropy-bonus weight.
        vf_coef: value-loss weight.
        max_grad_norm: global-norm gradient clipping threshold.
        rmsprop_decay: RMSProp's squared-gradient averaging factor (only with `optimizer="rmsprop"`).
    """

    learning_rate: Positive = 2e-3
    gamma: Unit = 0.99
    gae_lambda: Unit = 1.0
    ent_coef: NonNegative = 0.0
    vf_coef: NonNegative = 0.5
    max_grad_norm: Positive = 0.5
    rmsprop_decay: Annotated[float, Range(0.0, 1.0, high_open=True)] = 0.99


PRESETS = {
    # Pendulum-v1 (4 seeds, 1M steps): final IQM about -200. Reward scaling matters: without it the
    # critic's large gradients dominate the clipped global norm and nothing is learned.
    "continuous": Preset(
        config={
            "total_timesteps": 1_000_000,
            "num_envs": 16,
            "num_steps": 16,
            "optimizer": "adam",
            "normalize_obs": True,
            "normalize_reward": True,
            "normalize_advantages": True,
        },
        hparams={"learning_rate": 1e-3, "gae_lambda": 0.95},
    ),
}


class A2CState(NamedTuple):
    """Training state.

    Attributes:
        params: `ActorCritic` parameters.
        opt_state: optimiser state.
        obs_stats: observation statistics (unchanged when `normalize_obs` is off).
        envs: the `num_envs` training environments, carried across updates.
        update_count: int32 scalar, updates done.
    """

    params: Any
    opt_state: Any
    obs_stats: RunningMeanStd
    envs: EnvBatch
    update_count: jax.Array


def a2c_targets(
    rewards: Array,
    terminated: Array,
    truncated: Array,
    values: Array,
    next_values: Array,
    gamma: Array | float,
    gae_lambda: Array | float,
    advantage: str,
    n_step: int,
) -> tuple[Array, Array]:
    """Advantages and value targets of a time-major segment (computed outside the gradient).

    Args:
        rewards: `[T, B]` rewards.
        terminated: `[T, B]` bool (bootstrap 0).
        truncated: `[T, B]` bool (bootstrap `V(final_obs)`).
        values: `[T, B]` `V(obs_t)` at collection.
        next_values: `[T, B]` `V(final_obs_t)`.
        gamma: discount.
        gae_lambda: GAE trace decay (used by "gae").
        advantage: "gae" (`A = gae(...)`, target `A + V`) or "nstep" (target `G^(n)`, `A = G - V`).
        n_step: static horizon of "nstep", `>= 1`.

    Returns:
        `(advantages [T, B], targets [T, B])`, float32.
    """
    discounts = gamma * (1.0 - terminated.astype(jnp.float32))
    ends = terminated | truncated
    if advantage == "gae":
        advantages = returns.batch_time_major(returns.gae)(
            rewards, discounts, gae_lambda, values, next_values, ends
        )
        return advantages, advantages + values
    if advantage == "nstep":
        targets = returns.batch_time_major(returns.n_step_returns)(
            rewards, discounts, next_values, ends, n=n_step
        )
        return targets - values, targets
    raise ValueError(f"advantage must be 'gae' or 'nstep', got {advantage!r}")


def a2c_loss(
    log_prob: Array,
    entropy: Array,
    values: Array,
    advantages: Array,
    targets: Array,
    ent_coef: Array | float,
    vf_coef: Array | float,
    normalize_advantages: bool = False,
) -> tuple[Array, dict[str, Array]]:
    """A2C loss on flat data (Mnih et al., 2016, algorithm S3, as one summed objective):

        L = -mean(A log pi(a|s)) + vf_coef * 0.5 * mean((V(s) - G)^2) - ent_coef * mean(H[pi(.|s)])

    Args:
        log_prob: `[N]` log pi(a|s) (differentiable).
        entropy: `[N]` policy entropy (differentiable).
        values: `[N]` V(s) (differentiable).
        advantages: `[N]` advantage estimates (constants).
        targets: `[N]` value targets (constants).
        ent_coef: entropy-bonus weight.
        vf_coef: value-loss weight.
        normalize_advantages: standardise the advantages over the batch.

    Returns:
        `(loss, {"policy_loss", "value_loss", "entropy"})`.
    """
    advantages = jax.lax.stop_gradient(advantages)
    if normalize_advantages:
        advantages = normalize(advantages)
    pg_loss = policy_gradient_loss(log_prob, advantages)
    v_loss = mse_loss(values, jax.lax.stop_gradient(targets))
    mean_entropy = entropy.mean()
    total = pg_loss + vf_coef * v_loss - ent_coef * mean_entropy
    return total, {"policy_loss": pg_loss, "value_loss": v_loss, "entropy": mean_entropy}


def build(config: A2CConfig, env: Env, env_params: Any) -> Algorithm:
    """A2C's pure functions for `config` on `env` (see `purerl.loop.Algorithm`)."""
    spec = env.spec
    train_env = actor_critic.make_training_env(env, config.normalize_reward)
    network = actor_critic.make_actor_critic(spec, config)
    norm = actor_critic.ObsNormalizer(config.normalize_obs, spec.observation_space.shape)
    n_step = config.n_step or config.num_steps

    def optimizer(hparams: A2CHParams) -> optax.GradientTransformation:
        return learn.make_optimizer(
            hparams.learning_rate,
            hparams.max_grad_norm,
            decay_steps=config.updates_run if config.anneal_lr else 0,
            kind=config.optimizer,
            rmsprop_decay=hparams.rmsprop_decay,
        )

    def init(key: PRNGKey, hparams: A2CHParams) -> A2CState:
        key_net, key_env = jax.random.split(key)
        envs = rollout.reset_batch(key_env, train_env, env_params, config.num_envs)
        params = network.init(key_net, envs.obs)
        opt_state = optimizer(hparams).init(params)
        return A2CState(params, opt_state, norm.init(envs.obs), envs, jnp.zeros((), jnp.int32))

    def update(key: PRNGKey, state: A2CState, hparams: A2CHParams):
        def policy(key, obs):
            pi, value = network.apply(state.params, norm(state.obs_stats, obs))
            return pi.sample(key), {"value": value}

        envs, traj, info = rollout.collect(key, train_env, env_params, policy, state.envs, config.num_steps)
        next_values = network.apply(
            state.params, norm(state.obs_stats, traj.final_obs), method=ActorCritic.value
        )
        advantages, targets = a2c_targets(
            traj.reward,
            traj.terminated,
            traj.truncated,
            traj.extras["value"],
            next_values,
            hparams.gamma,
            hparams.gae_lambda,
            config.advantage,
            n_step,
        )
        loss = functools.partial(
            a2c_loss,
            ent_coef=hparams.ent_coef,
            vf_coef=hparams.vf_coef,
            normalize_advantages=config.normalize_advantages,
        )
        params, opt_state, obs_stats, metrics = actor_critic.segment_step(
            optimizer(hparams), network, norm, state, traj, (advantages, targets), info, loss
        )
        return A2CState(params, opt_state, obs_stats, envs, state.update_count + 1), metrics

    return Algorithm(
        init, update, actor_critic.make_policy_act(network, norm, config.eval_greedy), config.steps_per_update
    )


SUMMARY = "Synchronous advantage actor-critic (n-step or GAE targets); discrete and continuous actions"
SPEC = register_algorithm(
    AlgoSpec("a2c", SUMMARY, A2CConfig, A2CHParams, build, ("discrete", "continuous"), PRESETS)
)
make_train, preset = SPEC.make_train, SPEC.preset
