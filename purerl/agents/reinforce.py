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

from purerl import returns, rollout
from purerl.agents.actor_critic import (
    ObsNormalizer,
    eval_blocks,
    linear_decay,
    make_actor_critic,
    make_policy_evaluator,
)
from purerl.agents.common import (
    adam_with_clipping,
    check_env_name,
    check_eval_options,
    check_network_options,
    make_env,
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
from purerl.envs import make
from purerl.loop import Agent
from purerl.losses import masked_mean, masked_normalize, policy_gradient_loss
from purerl.networks import ActorCritic
from purerl.normalization import RunningMeanStd
from purerl.types import Array, PRNGKey


@functools.cache
def _episode_limit(env_name: str) -> int:
    env, _ = make(env_name)
    return int(env.spec.max_episode_steps)


@dataclasses.dataclass(frozen=True)
class ReinforceConfig:
    """Static REINFORCE options. Validated on construction.

    Attributes:
        env_name: registered environment name.
        total_timesteps: env steps per seed; rounded down to whole evaluation blocks.
        num_envs: parallel environments per seed; one update uses `num_envs` segments.
        num_steps: segment length per environment; 0 uses the environment's episode limit, so every
            environment completes at least one episode per update.
        baseline: learn a state-value baseline `V(s)` (separate network) and subtract it from the returns.
        segment_end: what to do with steps whose episode is still running at the segment's end:
            "mask" leaves them out of the loss; "bootstrap" (needs `baseline`) completes their return
            with the baseline's value of the last state.
        normalize_advantages: standardise `G_t - b(s_t)` (or `G_t` without a baseline, which then acts as
            a batch-mean baseline) over the used steps of each update.
        network: "mlp" or "minatar_cnn" torso.
        hidden_sizes: torso widths (policy and baseline each have their own torso).
        activation: one of `networks.ACTIVATIONS`.
        anneal_lr: decay the learning rate linearly towards 0 over the run.
        normalize_obs: standardise observations with running statistics kept in the agent state.
        init_log_std: initial log-std of the Gaussian policy (continuous actions).
        eval_every: updates between evaluations; 0 picks `num_updates // 20` (at least 1).
        eval_episodes: evaluation episodes per evaluation.
        eval_greedy: evaluate the policy's mode rather than samples.
        eval_max_steps: step cap of an evaluation episode; 0 uses the env's episode limit.
    """

    env_name: str = "CartPole-v1"
    total_timesteps: int = 500_000
    num_envs: int = 4
    num_steps: int = 0
    baseline: bool = True
    segment_end: str = "mask"
    normalize_advantages: bool = True
    network: str = "mlp"
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    anneal_lr: bool = True
    normalize_obs: bool = False
    init_log_std: float = 0.0
    eval_every: int = 0
    eval_episodes: int = 16
    eval_greedy: bool = True
    eval_max_steps: int = 0

    def __post_init__(self):
        name = type(self).__name__
        check_env_name(self)
        check_positive_int(self, "total_timesteps", "num_envs", "eval_episodes")
        if isinstance(self.num_steps, bool) or not isinstance(self.num_steps, int) or self.num_steps < 0:
            raise ValueError(
                f"{name}.num_steps must be a non-negative integer (0 = episode limit), got {self.num_steps!r}"
            )
        for field in ("baseline", "normalize_advantages", "anneal_lr", "normalize_obs", "eval_greedy"):
            if not isinstance(getattr(self, field), bool):
                raise ValueError(f"{name}.{field} must be a bool, got {getattr(self, field)!r}")
        check_choice(self, "segment_end", ("mask", "bootstrap"))
        if self.segment_end == "bootstrap" and not self.baseline:
            raise ValueError(
                f"{name}.segment_end='bootstrap' needs baseline=True (there is no value to bootstrap from)"
            )
        check_network_options(self)
        if self.total_timesteps < self.steps_per_update:
            raise ValueError(
                f"{name}.total_timesteps={self.total_timesteps} is smaller than one update "
                f"(num_envs * segment length = {self.steps_per_update})"
            )
        check_eval_options(self, self.num_updates)

    @property
    def segment_length(self) -> int:
        """Steps per environment per update (`num_steps`, or the episode limit when it is 0)."""
        return self.num_steps or _episode_limit(self.env_name)

    @property
    def steps_per_update(self) -> int:
        return self.num_envs * self.segment_length

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update


class ReinforceHParams(NamedTuple):
    """Traced REINFORCE hyperparameters: any field can be swept by stacking values and vmapping.

    Attributes:
        learning_rate: Adam step size (policy and baseline).
        gamma: discount of the Monte-Carlo return.
        ent_coef: weight of the entropy bonus (0 is plain REINFORCE).
        vf_coef: weight of the baseline's regression loss (unused without a baseline).
        max_grad_norm: global-norm gradient clipping threshold.
    """

    learning_rate: float = 3e-3
    gamma: float = 0.99
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 1.0


HPARAM_RANGES = {
    "learning_rate": POSITIVE,
    "gamma": UNIT,
    "ent_coef": NON_NEGATIVE,
    "vf_coef": NON_NEGATIVE,
    "max_grad_norm": Range(0.0, low_open=True),
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


def make_agent(config: ReinforceConfig) -> Agent:
    """Build REINFORCE's pure functions for `config` (see `purerl.loop.Agent`)."""
    env, env_params = make_env(config.env_name, "reinforce", SPEC.action_spaces)
    spec = env.spec
    train_env = rollout.training_env(env)
    network = make_actor_critic(
        spec, config.network, config.hidden_sizes, config.activation, config.init_log_std
    )
    norm = ObsNormalizer(config.normalize_obs, spec.observation_space.shape)
    eval_every, num_blocks = eval_blocks(config.num_updates, config.eval_every)
    num_steps = config.segment_length
    steps_per_update = config.steps_per_update
    eval_max_steps = config.eval_max_steps or spec.max_episode_steps
    policy_evaluator = make_policy_evaluator(
        env, env_params, network, norm, config.eval_episodes, eval_max_steps, config.eval_greedy
    )

    def optimizer(hparams: ReinforceHParams) -> optax.GradientTransformation:
        learning_rate = hparams.learning_rate
        if config.anneal_lr:
            learning_rate = linear_decay(hparams.learning_rate, num_blocks * eval_every)
        return adam_with_clipping(learning_rate, hparams.max_grad_norm)

    def init(key: PRNGKey, hparams: ReinforceHParams) -> ReinforceState:
        key_net, key_env = jax.random.split(key)
        # Only for shapes and the first observation statistics: every update resets its environments.
        envs = rollout.reset_batch(train_env, env_params, key_env, config.num_envs)
        params = network.init(key_net, envs.obs)
        opt_state = optimizer(hparams).init(params)
        return ReinforceState(params, opt_state, norm.init(envs.obs), jnp.zeros((), jnp.int32))

    def loss_fn(params, obs_stats, traj, mc_returns, valid, hparams):
        pi, values = network.apply(params, norm(obs_stats, traj.obs))
        flat = lambda x: x.reshape(-1)
        return reinforce_loss(
            flat(pi.log_prob(traj.action)),
            flat(pi.entropy()),
            flat(values) if config.baseline else None,
            flat(mc_returns),
            flat(valid),
            hparams.ent_coef,
            hparams.vf_coef,
            config.normalize_advantages,
        )

    def update(state: ReinforceState, hparams: ReinforceHParams, key: PRNGKey):
        key_reset, key_collect = jax.random.split(key)
        envs = rollout.reset_batch(train_env, env_params, key_reset, config.num_envs)

        def policy(obs, key):
            pi = network.apply(state.params, norm(state.obs_stats, obs), method=ActorCritic.policy)
            return pi.sample(key), {}

        _, traj, info = rollout.collect(train_env, env_params, policy, envs, key_collect, num_steps)
        next_values = None
        if config.baseline:
            next_values = network.apply(
                state.params, norm(state.obs_stats, traj.final_obs), method=ActorCritic.value
            )
        mc_returns, valid = monte_carlo_targets(
            traj.reward, traj.terminated, traj.truncated, hparams.gamma, next_values, config.segment_end
        )
        grads, metrics = jax.grad(loss_fn, has_aux=True)(
            state.params, state.obs_stats, traj, mc_returns, valid, hparams
        )
        updates, opt_state = optimizer(hparams).update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        obs_stats = norm.update(state.obs_stats, traj.obs.reshape((-1, *traj.obs.shape[2:])))
        metrics["grad_norm"] = optax.tree.norm(grads)
        metrics.update(rollout.episode_metrics(info))
        return ReinforceState(params, opt_state, obs_stats, state.update_count + 1), metrics

    def evaluate(state: ReinforceState, hparams: ReinforceHParams, key: PRNGKey):
        return policy_evaluator(state.params, state.obs_stats, key)

    return Agent(init, update, evaluate, num_blocks, eval_every, steps_per_update)


SPEC = register_algorithm(
    AlgoSpec(
        name="reinforce",
        summary="REINFORCE: Monte-Carlo policy gradient, optional learned baseline; discrete and continuous",
        config_cls=ReinforceConfig,
        hparams_cls=ReinforceHParams,
        make_agent=make_agent,
        hparam_ranges=HPARAM_RANGES,
        action_spaces=("discrete", "continuous"),
    )
)
validate = SPEC.validate_hparams
make_train = SPEC.make_train
