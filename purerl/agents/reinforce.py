"""REINFORCE (Williams, 1992), with or without a learned value baseline; discrete and continuous actions.

The policy gradient is the score-function estimator

    grad J = E[ sum_t grad log pi(a_t | s_t) (G_t - b(s_t)) ],   G_t = sum_k gamma^k r_{t+k},

with `b = 0` (plain REINFORCE) or `b = V(s_t)` fitted to the same Monte-Carlo returns
(Williams, 1992, "Simple statistical gradient-following algorithms for connectionist reinforcement
learning"; Sutton & Barto, 2018, "Reinforcement Learning: An Introduction", 2nd ed., sec. 13.3-13.4).

One update:

1. reset every environment, then roll out `num_steps` steps in each of `num_envs` of them (by default
   `num_steps` is the environment's episode limit, so the first episode of every environment always
   finishes inside the segment);
2. compute discounted Monte-Carlo returns inside each episode (`returns.discounted_returns`);
3. take one gradient step on the masked policy-gradient loss (plus the baseline's regression loss).

Honest Monte-Carlo returns. A step whose episode has not ended by the end of the segment has an
incomplete return, which would bias the estimator towards short horizons:

* `segment_end="mask"` (default): such steps are left out of every loss term (the policy gradient, the
  baseline regression, the entropy bonus and the advantage statistics). Only complete episodes are used,
  which is REINFORCE as Williams wrote it.
* `segment_end="bootstrap"` (only with `baseline=True`): such steps keep their partial return plus
  `gamma^k V(s_T)`, the baseline's value of the state reached at the segment's end. Nothing is wasted, at
  the price of the baseline's bias (this is then an actor-critic with an infinite-step return).

Time limits are not terminal states (Pardo et al., 2018, "Time limits in reinforcement learning"): at a
truncated step the return bootstraps from `V(final_obs)` when a baseline exists. Without a baseline
there is no value to bootstrap from and the return stops at the truncation (bootstrap 0), which
under-values the last steps before the limit; that is the textbook estimator for a finite-horizon task.

Environments are reset at the start of every update, so episodes never straddle two segments: the
unfinished tail of the last episode in each environment is discarded (its steps still count as
environment steps).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from purerl import learn, returns, rollout
from purerl.agents import actor_critic
from purerl.agents.registry import AlgoSpec, Preset, register_algorithm
from purerl.config import AutoInt, Flag, NonNegative, Positive, PositiveInt, Unit, one_of
from purerl.envs import make
from purerl.envs.core import Env
from purerl.loop import Algorithm, StepsConfig
from purerl.losses import masked_mean, masked_normalize, policy_gradient_loss
from purerl.networks import ActorCritic
from purerl.normalization import RunningMeanStd
from purerl.types import Array, PRNGKey


@functools.cache
def _episode_limit(env_name: str, env_kwargs: tuple[tuple[str, Any], ...]) -> int:
    env, _ = make(env_name, **dict(env_kwargs))
    return int(env.spec.max_episode_steps)


@dataclasses.dataclass(frozen=True)
class ReinforceConfig(StepsConfig, actor_critic.PolicyOptions):
    """Static REINFORCE options (environment, evaluation and network fields: `StepsConfig`,
    `actor_critic.PolicyOptions`).

    Attributes:
        num_envs: parallel environments per seed; one update uses `num_envs` segments.
        num_steps: segment length per environment; 0 uses the environment's episode limit, so every
            environment completes at least one episode per update.
        baseline: learn a state-value baseline `V(s)` (separate network) and subtract it from the returns.
        segment_end: what to do with steps whose episode is still running at the segment's end:
            "mask" leaves them out of the loss; "bootstrap" (needs `baseline`) completes their return
            with the baseline's value of the last state.
        normalize_advantages: standardise `G_t - b(s_t)` (or `G_t` without a baseline, which then acts as
            a batch-mean baseline) over the used steps of each update.
    """

    num_envs: PositiveInt = 4
    num_steps: AutoInt = 0
    baseline: Flag = True
    segment_end: one_of("mask", "bootstrap") = "mask"
    normalize_advantages: Flag = True

    def check(self) -> None:
        if self.segment_end == "bootstrap" and not self.baseline:
            raise ValueError(
                "ReinforceConfig.segment_end='bootstrap' needs baseline=True "
                "(there is no value to bootstrap from)"
            )

    @property
    def segment_length(self) -> int:
        """Steps per environment per update (`num_steps`, or the episode limit when it is 0)."""
        return self.num_steps or _episode_limit(self.env_name, self.env_kwargs)

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.segment_length


class ReinforceHParams(NamedTuple):
    """Traced REINFORCE hyperparameters: any field can be swept by stacking values and vmapping.

    Attributes:
        learning_rate: Adam step size (policy and baseline).
        gamma: discount of the Monte-Carlo return.
        ent_coef: weight of the entropy bonus (0 is plain REINFORCE).
        vf_coef: weight of the baseline's regression loss (unused without a baseline).
        max_grad_norm: global-norm gradient clipping threshold.
    """

    learning_rate: Positive = 3e-3
    gamma: Unit = 0.99
    ent_coef: NonNegative = 0.0
    vf_coef: NonNegative = 0.5
    max_grad_norm: Positive = 1.0


PRESETS = {
    # Only sanity-checked: on Pendulum-v1 (4 seeds, 1M steps) no setting tried learned the swing-up
    # (final IQM about -1100 against -1200 for the initial policy). The environments restart every
    # update, so the reward-normalising wrapper (per-environment statistics) is not an option here.
    "continuous": Preset(
        config={"total_timesteps": 1_000_000, "normalize_obs": True}, hparams={"learning_rate": 1e-3}
    ),
}


class ReinforceState(NamedTuple):
    """Training state. Environments are reset every update, so none is carried.

    Attributes:
        params: `ActorCritic` parameters (the critic is the baseline; unused without one).
        opt_state: optimiser state.
        obs_stats: observation statistics (unchanged when `normalize_obs` is off).
        update_count: int32 scalar, updates done.
    """

    params: Any
    opt_state: Any
    obs_stats: RunningMeanStd
    update_count: jax.Array


def monte_carlo_targets(
    rewards: Array,
    terminated: Array,
    truncated: Array,
    gamma: Array | float,
    next_values: Array | None = None,
    segment_end: str = "mask",
) -> tuple[Array, Array]:
    """Discounted Monte-Carlo returns of a time-major segment, and which of them are complete.

        G_t = r_t + gamma * (1 - terminated_t) * (G_{t+1} if not end_t else bootstrap_t)

    with `bootstrap_t = next_values_t = V(final_obs_t)` if given, else 0. It is used at truncated steps
    and at the segment's last step; terminated steps have discount 0.

    Args:
        rewards: `[T, B]` rewards.
        terminated: `[T, B]` bool.
        truncated: `[T, B]` bool.
        gamma: discount (scalar, may be traced).
        next_values: optional `[T, B]` baseline values of `final_obs` (`None`: no baseline).
        segment_end: "mask": a step is valid iff its episode ends (terminated or truncated) inside the
            segment; "bootstrap": every step is valid (needs `next_values`).

    Returns:
        `(returns [T, B] float32, valid [T, B] bool)`.
    """
    discounts = gamma * (1.0 - terminated.astype(jnp.float32))
    ends = terminated | truncated
    bootstrap = jnp.zeros(rewards.shape, jnp.float32) if next_values is None else next_values
    mc_returns = returns.batch_time_major(returns.discounted_returns)(rewards, discounts, ends, bootstrap)
    if segment_end == "bootstrap":
        if next_values is None:
            raise ValueError("segment_end='bootstrap' needs next_values (a baseline)")
        return mc_returns, jnp.ones(rewards.shape, bool)
    # Step t's episode is complete iff some episode end happens at or after t in the segment.
    valid = jax.lax.cummax(ends.astype(jnp.int32), axis=0, reverse=True) > 0
    return mc_returns, valid


def reinforce_loss(
    log_prob: Array,
    entropy: Array,
    values: Array | None,
    mc_returns: Array,
    valid: Array,
    ent_coef: Array | float,
    vf_coef: Array | float,
    normalize_advantages: bool = False,
) -> tuple[Array, dict[str, Array]]:
    """REINFORCE loss on flat data, every term averaged over the `valid` steps only.

        A_t  = G_t - stop_gradient(V(s_t))   (A_t = G_t without a baseline), optionally standardised
        L    = -mean_valid(A_t log pi(a_t|s_t)) + vf_coef * 0.5 * mean_valid((V(s_t) - G_t)^2)
               - ent_coef * mean_valid(H[pi(.|s_t)])

    Args:
        log_prob: `[N]` log pi(a|s) (differentiable).
        entropy: `[N]` policy entropy at s (differentiable).
        values: `[N]` baseline V(s) (differentiable), or `None` for no baseline.
        mc_returns: `[N]` Monte-Carlo returns (constants).
        valid: `[N]` bool, steps with a complete return.
        ent_coef: entropy-bonus weight.
        vf_coef: baseline-loss weight.
        normalize_advantages: standardise `A` over the valid steps.

    Returns:
        `(loss, {"policy_loss", "value_loss", "entropy", "valid_fraction"})`.
    """
    mc_returns = jax.lax.stop_gradient(mc_returns)
    advantages = mc_returns if values is None else mc_returns - jax.lax.stop_gradient(values)
    if normalize_advantages:
        advantages = masked_normalize(advantages, valid)
    pg_loss = policy_gradient_loss(log_prob, advantages, valid)
    if values is None:
        v_loss = jnp.zeros((), jnp.float32)
    else:
        v_loss = 0.5 * masked_mean((values - mc_returns) ** 2, valid)
    mean_entropy = masked_mean(entropy, valid)
    total = pg_loss + vf_coef * v_loss - ent_coef * mean_entropy
    metrics = {
        "policy_loss": pg_loss,
        "value_loss": v_loss,
        "entropy": mean_entropy,
        "valid_fraction": valid.astype(jnp.float32).mean(),
    }
    return total, metrics


def build(config: ReinforceConfig, env: Env, env_params: Any) -> Algorithm:
    """REINFORCE's pure functions for `config` on `env` (see `purerl.loop.Algorithm`)."""
    spec = env.spec
    train_env = rollout.training_env(env)
    network = actor_critic.make_actor_critic(spec, config)
    norm = actor_critic.ObsNormalizer(config.normalize_obs, spec.observation_space.shape)
    num_steps = config.segment_length

    def optimizer(hparams: ReinforceHParams) -> optax.GradientTransformation:
        decay_steps = config.updates_run if config.anneal_lr else 0
        return learn.make_optimizer(hparams.learning_rate, hparams.max_grad_norm, decay_steps=decay_steps)

    def init(key: PRNGKey, hparams: ReinforceHParams) -> ReinforceState:
        key_net, key_env = jax.random.split(key)
        # Only for shapes and the first observation statistics: every update resets its environments.
        envs = rollout.reset_batch(key_env, train_env, env_params, config.num_envs)
        params = network.init(key_net, envs.obs)
        opt_state = optimizer(hparams).init(params)
        return ReinforceState(params, opt_state, norm.init(envs.obs), jnp.zeros((), jnp.int32))

    def update(key: PRNGKey, state: ReinforceState, hparams: ReinforceHParams):
        key_reset, key_collect = jax.random.split(key)
        envs = rollout.reset_batch(key_reset, train_env, env_params, config.num_envs)

        def policy(key, obs):
            pi = network.apply(state.params, norm(state.obs_stats, obs), method=ActorCritic.policy)
            return pi.sample(key), {}

        _, traj, info = rollout.collect(key_collect, train_env, env_params, policy, envs, num_steps)
        next_values = None
        if config.baseline:
            next_values = network.apply(
                state.params, norm(state.obs_stats, traj.final_obs), method=ActorCritic.value
            )
        mc_returns, valid = monte_carlo_targets(
            traj.reward, traj.terminated, traj.truncated, hparams.gamma, next_values, config.segment_end
        )

        def loss(log_prob, entropy, values, mc_returns, valid):
            values = values if config.baseline else None  # no baseline: the value head is left untrained
            return reinforce_loss(
                log_prob,
                entropy,
                values,
                mc_returns,
                valid,
                hparams.ent_coef,
                hparams.vf_coef,
                config.normalize_advantages,
            )

        params, opt_state, obs_stats, metrics = actor_critic.segment_step(
            optimizer(hparams), network, norm, state, traj, (mc_returns, valid), info, loss
        )
        return ReinforceState(params, opt_state, obs_stats, state.update_count + 1), metrics

    return Algorithm(
        init, update, actor_critic.make_policy_act(network, norm, config.eval_greedy), config.steps_per_update
    )


SUMMARY = "REINFORCE: Monte-Carlo policy gradient, optional learned baseline; discrete and continuous"
SPEC = register_algorithm(
    AlgoSpec(
        "reinforce", SUMMARY, ReinforceConfig, ReinforceHParams, build, ("discrete", "continuous"), PRESETS
    )
)
make_train, preset = SPEC.make_train, SPEC.preset
