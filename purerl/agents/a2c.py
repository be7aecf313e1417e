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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from purerl import returns, rollout
from purerl.agents.actor_critic import (
    ObsNormalizer,
    eval_blocks,
    linear_decay,
    make_actor_critic,
    make_policy_evaluator,
    make_training_env,
)
from purerl.agents.common import (
    adam_with_clipping,
    check_env_name,
    check_eval_options,
    check_network_options,
    make_env,
    rmsprop_with_clipping,
)
from purerl.agents.registry import AlgoSpec, register_algorithm
from purerl.config import (
    NON_NEGATIVE,
    POSITIVE,
    UNIT,
    Range,
    check_choice,
    check_positive_int,
)
from purerl.loop import Agent
from purerl.losses import mse_loss, normalize, policy_gradient_loss
from purerl.networks import ActorCritic
from purerl.normalization import RunningMeanStd
from purerl.rollout import EnvBatch
from purerl.types import Array, PRNGKey


@dataclasses.dataclass(frozen=True)
class A2CConfig:
    """Static A2C options. Validated on construction.

    Attributes:
        env_name: registered environment name.
        total_timesteps: env steps per seed; rounded down to whole evaluation blocks.
        num_envs: parallel environments per seed.
        num_steps: rollout length per update (the "t_max" of A3C).
        advantage: "gae" or "nstep" (see the module docstring).
        n_step: horizon of the n-step return, `1 <= n_step <= num_steps`; 0 uses `num_steps` (every
            step bootstraps at the segment's end, as in A3C). Only used with `advantage="nstep"`.
        optimizer: "rmsprop" (PyTorch convention, `eps` outside the root) or "adam".
        normalize_advantages: standardise the advantages of each update.
        network: "mlp" or "minatar_cnn" torso.
        hidden_sizes: torso widths (actor and critic each have their own torso).
        activation: one of `networks.ACTIVATIONS`.
        anneal_lr: decay the learning rate linearly towards 0 over the run.
        normalize_obs: standardise observations with running statistics kept in the agent state.
        normalize_reward: scale rewards by the running std of the discounted return.
        init_log_std: initial log-std of the Gaussian policy (continuous actions).
        eval_every: updates between evaluations; 0 picks `num_updates // 20` (at least 1).
        eval_episodes: evaluation episodes per evaluation.
        eval_greedy: evaluate the policy's mode rather than samples.
        eval_max_steps: step cap of an evaluation episode; 0 uses the env's episode limit.
    """

    env_name: str = "CartPole-v1"
    total_timesteps: int = 500_000
    num_envs: int = 8
    num_steps: int = 5
    advantage: str = "gae"
    n_step: int = 0
    optimizer: str = "rmsprop"
    normalize_advantages: bool = False
    network: str = "mlp"
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    anneal_lr: bool = True
    normalize_obs: bool = False
    normalize_reward: bool = False
    init_log_std: float = 0.0
    eval_every: int = 0
    eval_episodes: int = 16
    eval_greedy: bool = True
    eval_max_steps: int = 0

    def __post_init__(self):
        name = type(self).__name__
        check_env_name(self)
        check_positive_int(self, "total_timesteps", "num_envs", "num_steps", "eval_episodes")
        check_choice(self, "advantage", ("gae", "nstep"))
        check_choice(self, "optimizer", ("rmsprop", "adam"))
        n = self.n_step
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= self.num_steps:
            raise ValueError(
                f"{name}.n_step must be an integer in [0, num_steps={self.num_steps}] (0 = num_steps), "
                f"got {n!r}"
            )
        for field in (
            "normalize_advantages",
            "anneal_lr",
            "normalize_obs",
            "normalize_reward",
            "eval_greedy",
        ):
            if not isinstance(getattr(self, field), bool):
                raise ValueError(f"{name}.{field} must be a bool, got {getattr(self, field)!r}")
        check_network_options(self)
        if self.total_timesteps < self.steps_per_update:
            raise ValueError(
                f"{name}.total_timesteps={self.total_timesteps} is smaller than one update "
                f"(num_envs * num_steps = {self.steps_per_update})"
            )
        check_eval_options(self, self.num_updates)

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update


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

    learning_rate: float = 2e-3
    gamma: float = 0.99
    gae_lambda: float = 1.0
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    rmsprop_decay: float = 0.99


HPARAM_RANGES = {
    "learning_rate": POSITIVE,
    "gamma": UNIT,
    "gae_lambda": UNIT,
    "ent_coef": NON_NEGATIVE,
    "vf_coef": NON_NEGATIVE,
    "max_grad_norm": Range(0.0, low_open=True),
    "rmsprop_decay": Range(0.0, 1.0, high_open=True),
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


def make_agent(config: A2CConfig) -> Agent:
    """Build A2C's pure functions for `config` (see `purerl.loop.Agent`)."""
    env, env_params = make_env(config.env_name, "a2c", SPEC.action_spaces)
    spec = env.spec
    train_env = make_training_env(env, config.normalize_reward)
    network = make_actor_critic(
        spec, config.network, config.hidden_sizes, config.activation, config.init_log_std
    )
    norm = ObsNormalizer(config.normalize_obs, spec.observation_space.shape)
    eval_every, num_blocks = eval_blocks(config.num_updates, config.eval_every)
    steps_per_update = config.steps_per_update
    n_step = config.n_step or config.num_steps
    eval_max_steps = config.eval_max_steps or spec.max_episode_steps
    policy_evaluator = make_policy_evaluator(
        env, env_params, network, norm, config.eval_episodes, eval_max_steps, config.eval_greedy
    )

    def optimizer(hparams: A2CHParams) -> optax.GradientTransformation:
        learning_rate = hparams.learning_rate
        if config.anneal_lr:
            learning_rate = linear_decay(hparams.learning_rate, num_blocks * eval_every)
        if config.optimizer == "rmsprop":
            return rmsprop_with_clipping(learning_rate, hparams.max_grad_norm, hparams.rmsprop_decay)
        return adam_with_clipping(learning_rate, hparams.max_grad_norm)

    def init(key: PRNGKey, hparams: A2CHParams) -> A2CState:
        key_net, key_env = jax.random.split(key)
        envs = rollout.reset_batch(train_env, env_params, key_env, config.num_envs)
        params = network.init(key_net, envs.obs)
        opt_state = optimizer(hparams).init(params)
        return A2CState(params, opt_state, norm.init(envs.obs), envs, jnp.zeros((), jnp.int32))

    def loss_fn(params, obs_stats, traj, advantages, targets, hparams):
        pi, values = network.apply(params, norm(obs_stats, traj.obs))
        flat = lambda x: x.reshape(-1)
        return a2c_loss(
            flat(pi.log_prob(traj.action)),
            flat(pi.entropy()),
            flat(values),
            flat(advantages),
            flat(targets),
            hparams.ent_coef,
            hparams.vf_coef,
            config.normalize_advantages,
        )

    def update(state: A2CState, hparams: A2CHParams, key: PRNGKey):
        def policy(obs, key):
            pi, value = network.apply(state.params, norm(state.obs_stats, obs))
            return pi.sample(key), {"value": value}

        envs, traj, info = rollout.collect(train_env, env_params, policy, state.envs, key, config.num_steps)
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
        grads, metrics = jax.grad(loss_fn, has_aux=True)(
            state.params, state.obs_stats, traj, advantages, targets, hparams
        )
        updates, opt_state = optimizer(hparams).update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        obs_stats = norm.update(state.obs_stats, traj.obs.reshape((-1, *traj.obs.shape[2:])))
        metrics["grad_norm"] = optax.tree.norm(grads)
        metrics.update(rollout.episode_metrics(info))
        return A2CState(params, opt_state, obs_stats, envs, state.update_count + 1), metrics

    def evaluate(state: A2CState, hparams: A2CHParams, key: PRNGKey):
        return policy_evaluator(state.params, state.obs_stats, key)

    return Agent(init, update, evaluate, num_blocks, eval_every, steps_per_update)


SPEC = register_algorithm(
    AlgoSpec(
        name="a2c",
        summary="Synchronous advantage actor-critic (n-step or GAE targets); discrete and continuous actions",
        config_cls=A2CConfig,
        hparams_cls=A2CHParams,
        make_agent=make_agent,
        hparam_ranges=HPARAM_RANGES,
        action_spaces=("discrete", "continuous"),
    )
)
validate = SPEC.validate_hparams
make_train = SPEC.make_train
