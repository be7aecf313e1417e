"""Proximal Policy Optimization (Schulman et al., 2017) with GAE, discrete and continuous actions.

One update = collect `num_steps` steps in each of `num_envs` environments, compute GAE advantages
(bootstrapping from `V(final_obs)` on truncation, from 0 on termination), then `num_epochs` passes of
`num_minibatches` shuffled minibatches of the clipped-surrogate loss.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl import learn, returns, rollout
from purerl.agents import actor_critic
from purerl.agents.bootstrap import actor_params, load_actor
from purerl.agents.registry import AlgoSpec, Component, Preset, register_algorithm
from purerl.config import Flag, Gate, NonNegative, Positive, Unit
from purerl.envs.core import Env
from purerl.exploration import RNDOptions, RNDState, add_novelty, init_novelty
from purerl.loop import Algorithm, MinibatchConfig
from purerl.losses import clipped_value_loss, mse_loss, normalize, ppo_policy_loss
from purerl.networks import ActorCritic
from purerl.normalization import RunningMeanStd
from purerl.rollout import EnvBatch
from purerl.types import PRNGKey


@dataclasses.dataclass(frozen=True)
class PPOConfig(MinibatchConfig, actor_critic.PolicyOptions, RNDOptions):
    """Static PPO options: `MinibatchConfig`'s (environment, evaluation, envs, steps, epochs, minibatches),
    `PolicyOptions`' and the one below. Defaults: the classic single-file JAX PPO setting for CartPole.

    The novelty bonus (`rnd`, `rnd_features`) is `exploration.RNDOptions`'.

    Attributes:
        normalize_reward: scale rewards by the running std of the discounted return.
    """

    normalize_reward: Flag = False


class PPOHParams(NamedTuple):
    """Traced PPO hyperparameters: any field can be swept by stacking values and vmapping.

    `kl_coef` weighs a penalty `KL(pi || pi_init)` to the bootstrap policy; it acts only in runs
    started from `init_params` (see `build`), elsewhere it is ignored. `rnd_coef` weighs the novelty
    bonus of runs with `PPOConfig.rnd` (ignored elsewhere).

    The `Gate` fields (exactly 0 or 1) switch components of PPO inside one program, so an ablation runs
    every variant as a setting of one sweep (`COMPONENTS`, `purerl.ablate`). Each is read with a select
    between the two computations, so 1 (the default) computes what PPO computed before (to float32
    rounding: XLA may order a reduction of the larger program differently) and 0 is exactly the code
    without the component. `norm_adv` standardises each minibatch's advantages (0: raw GAE advantages);
    `clip_ratio` takes the clipped surrogate (0: an infinite clipping range, so the clipped ratio is the
    ratio and `min(r A, r A) = r A`, exactly the unclipped `-E[r A]`);
    `clip_vloss` clips the value loss (0: `0.5 E[(V - G)^2]`); `clip_grad` clips the gradient's global
    norm to `max_grad_norm` (0: raw gradients); `lr_decay` decays the rate linearly with
    `anneal_lr=True` (0: constant `learning_rate`; no effect with `anneal_lr=False`).
    """

    learning_rate: Positive = 2.5e-4
    gamma: Unit = 0.99
    gae_lambda: Unit = 0.95
    clip_eps: Positive = 0.2
    ent_coef: NonNegative = 0.01
    vf_coef: NonNegative = 0.5
    max_grad_norm: Positive = 0.5
    kl_coef: NonNegative = 0.0
    rnd_coef: NonNegative = 1.0
    norm_adv: Gate = 1.0
    clip_ratio: Gate = 1.0
    clip_vloss: Gate = 1.0
    clip_grad: Gate = 1.0
    lr_decay: Gate = 1.0


PRESETS = {
    # Measured on Breakout-MinAtar at its 10M steps (8 seeds; benchmarks/results/published.md): 7.2
    # [6.7, 10.4], the policy's entropy collapsed by 2M steps; gymnax-blines' MLP settings reach 25.9 there.
    "minatar": Preset(
        config={
            "total_timesteps": 10_000_000,
            "num_envs": 64,
            "num_minibatches": 8,
            "network": "minatar_cnn",
            "hidden_sizes": (128,),
            "activation": "relu",
            "eval_max_steps": 1000,
        },
        hparams={"learning_rate": 5e-4},
    ),
    "continuous": Preset(
        config={
            "total_timesteps": 1_000_000,
            "num_envs": 16,
            "num_steps": 256,
            "num_epochs": 10,
            "num_minibatches": 32,
            "normalize_obs": True,
            "normalize_reward": True,
        },
        hparams={"learning_rate": 1e-3, "ent_coef": 0.0},
    ),
}


class PPOState(NamedTuple):
    params: Any
    opt_state: Any
    obs_stats: RunningMeanStd
    envs: EnvBatch
    update_count: jax.Array
    # Frozen actor params of the bootstrap policy (runs started from `init_params`), else None.
    ref_params: Any = None
    # The novelty bonus' networks and statistics (`PPOConfig.rnd`), else None.
    rnd: RNDState | None = None


def build(config: PPOConfig, env: Env, env_params: Any) -> Algorithm:
    """PPO's pure functions for `config` on `env` (see `purerl.loop.Algorithm`)."""
    spec = env.spec
    train_env = actor_critic.make_training_env(env, config.normalize_reward)
    network = actor_critic.make_actor_critic(spec, config)
    norm = actor_critic.ObsNormalizer(config.normalize_obs, spec.observation_space.shape)
    steps_per_update = config.steps_per_update
    grad_steps = config.grad_steps_per_update

    def optimizer(hparams: PPOHParams):
        decay_steps = config.updates_run * grad_steps if config.anneal_lr else 0
        return learn.make_optimizer(
            hparams.learning_rate,
            hparams.max_grad_norm,
            decay_steps=decay_steps,
            hold_steps=grad_steps,
            decay_gate=hparams.lr_decay,
            clip_gate=hparams.clip_grad,
        )

    def init(key: PRNGKey, hparams: PPOHParams, init_params: Any = None) -> PPOState:
        """`init_params`: optional bootstrap policy (`ActorCritic` params, e.g. BC's output) whose actor
        replaces the fresh one; the critic stays freshly initialised (see `agents.bootstrap`)."""
        key_net, key_env = jax.random.split(key)
        envs = rollout.reset_batch(key_env, train_env, env_params, config.num_envs)
        params = network.init(key_net, envs.obs)
        ref_params = None
        if init_params is not None:
            if config.normalize_obs:
                # The bootstrap was fitted to raw observations; fresh running statistics would feed it
                # different inputs, so its first rollout would not be the bootstrap policy.
                raise ValueError("PPOConfig.normalize_obs must be False when starting from init_params")
            params = load_actor(params, init_params)
            ref_params = actor_params(params)
        obs_stats = norm.init(envs.obs)
        rnd_state = init_novelty(config, jax.random.fold_in(key_net, 1), envs.obs, hparams)
        return PPOState(
            params,
            optimizer(hparams).init(params),
            obs_stats,
            envs,
            jnp.zeros((), jnp.int32),
            ref_params,
            rnd_state,
        )

    def loss_fn(params, obs_stats, batch, hparams):
        pi, value = network.apply(params, norm(obs_stats, batch["obs"]))
        log_prob = pi.log_prob(batch["action"])
        # Gates select between both computations (see PPOHParams): exact in either position.
        advantage = jnp.where(hparams.norm_adv > 0.5, normalize(batch["advantage"]), batch["advantage"])
        pg_loss, diag = ppo_policy_loss(
            log_prob, batch["log_prob"], advantage, hparams.clip_eps, clip=hparams.clip_ratio
        )
        v_loss = jnp.where(
            hparams.clip_vloss > 0.5,
            clipped_value_loss(value, batch["value"], batch["target"], hparams.clip_eps),
            mse_loss(value, batch["target"]),
        )
        entropy = pi.entropy().mean()
        total = pg_loss + hparams.vf_coef * v_loss - hparams.ent_coef * entropy
        metrics = {"policy_loss": pg_loss, "value_loss": v_loss, "entropy": entropy, **diag}
        if "ref_policy" in batch:
            # KL(pi || pi_init), exact per state, as the KL-regularised fine-tuning of Jaques et al.
            # (2017, "Sequence Tutor") and Ziegler et al. (2019). This direction lets pi become sharper than
            # a noisy bootstrap at a bounded cost (-log pi_init(a*) for a deterministic pi), whereas
            # KL(pi_init || pi) would be infinite there and forbid dropping the teacher's lapses.
            kl = pi.kl(batch["ref_policy"]).mean()
            total = total + hparams.kl_coef * kl
            metrics["kl_to_init"] = kl
        return total, metrics

    def update(key: PRNGKey, state: PPOState, hparams: PPOHParams):
        key_collect, key_learn = jax.random.split(key)

        def policy(key, obs):
            pi, value = network.apply(state.params, norm(state.obs_stats, obs))
            action = pi.sample(key)
            return action, {"log_prob": pi.log_prob(action), "value": value}

        envs, traj, info = rollout.collect(
            key_collect, train_env, env_params, policy, state.envs, config.num_steps
        )
        next_values = network.apply(
            state.params, norm(state.obs_stats, traj.final_obs), method=ActorCritic.value
        )
        discounts = hparams.gamma * (1.0 - traj.terminated.astype(jnp.float32))
        ends = traj.terminated | traj.truncated
        rewards, rnd_state, rnd_metrics = add_novelty(config, state.rnd, traj, hparams)
        advantages = returns.batch_time_major(returns.gae)(
            rewards, discounts, hparams.gae_lambda, traj.extras["value"], next_values, ends
        )
        flat = {
            "obs": traj.obs,
            "action": traj.action,
            "log_prob": traj.extras["log_prob"],
            "value": traj.extras["value"],
            "advantage": advantages,
            "target": advantages + traj.extras["value"],
        }
        if state.ref_params is not None:
            # The bootstrap policy on this rollout's states, once per update rather than per minibatch.
            flat["ref_policy"] = network.apply(
                state.ref_params, norm(state.obs_stats, traj.obs), method=ActorCritic.policy
            )
        flat = jax.tree.map(lambda x: x.reshape((steps_per_update, *x.shape[2:])), flat)
        params, opt_state, metrics = learn.minibatch_epochs(
            key_learn,
            optimizer(hparams),
            lambda params, batch: loss_fn(params, state.obs_stats, batch, hparams),
            state.params,
            state.opt_state,
            flat,
            config.num_epochs,
            config.num_minibatches,
        )
        obs_stats = norm.update(state.obs_stats, flat["obs"])
        metrics.update(rollout.episode_metrics(info), **rnd_metrics)
        new_state = PPOState(
            params, opt_state, obs_stats, envs, state.update_count + 1, state.ref_params, rnd_state
        )
        return new_state, metrics

    return Algorithm(
        init, update, actor_critic.make_policy_act(network, norm, config.eval_greedy), steps_per_update
    )


# What `purerl ablate ppo` can switch off. Traced ones are settings of one program; static ones (config
# switches the program is built around) run as programs of their own, with the same seeds.
COMPONENTS = {
    c.name: c
    for c in (
        Component(
            "norm_adv", "per-minibatch advantage standardisation; off: raw GAE advantages", {"norm_adv": 0.0}
        ),
        Component("clip_ratio", "ratio clipping; off: the unclipped surrogate -E[r A]", {"clip_ratio": 0.0}),
        Component("clip_vloss", "value-loss clipping; off: 0.5 E[(V - G)^2]", {"clip_vloss": 0.0}),
        Component(
            "gae",
            "GAE's lambda < 1; off: lambda = 1, the discounted return (bootstrapped at truncation and at "
            "the rollout's end) minus V",
            {"gae_lambda": 1.0},
        ),
        Component("entropy", "entropy bonus; off: ent_coef = 0", {"ent_coef": 0.0}),
        Component("clip_grad", "global-norm gradient clipping; off: raw gradients", {"clip_grad": 0.0}),
        Component(
            "lr_decay",
            "linear learning-rate decay; off: constant learning_rate",
            {"lr_decay": 0.0},
            requires={"anneal_lr": True},
        ),
        Component(
            "normalize_obs",
            "running observation standardisation; off: raw observations",
            {"normalize_obs": False},
            static=True,
        ),
        Component(
            "normalize_reward",
            "reward scaling by the return's running std; off: raw rewards",
            {"normalize_reward": False},
            static=True,
        ),
    )
}

SUMMARY = "Proximal Policy Optimization with GAE (clipped surrogate); discrete and continuous actions"
SPEC = register_algorithm(
    AlgoSpec(
        "ppo",
        SUMMARY,
        PPOConfig,
        PPOHParams,
        build,
        ("discrete", "continuous"),
        PRESETS,
        components=COMPONENTS,
    )
)
make_train, preset = SPEC.make_train, SPEC.preset
