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
from purerl.agents.bootstrap import actor_params, load_actor
from purerl.agents.common import (
    adam_with_clipping,
    check_env_kwargs,
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
    check_bool,
    check_number,
    check_positive_int,
)
from purerl.loop import Agent
from purerl.losses import clipped_value_loss, normalize, ppo_policy_loss
from purerl.networks import ActorCritic
from purerl.normalization import RunningMeanStd
from purerl.rollout import EnvBatch
from purerl.types import PRNGKey


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Static PPO options (shapes, loop lengths, switches). Validated on construction.

    Attributes:
        env_name: registered environment name.
        total_timesteps: env steps per seed; rounded down to whole evaluation blocks.
        num_envs: parallel environments per seed.
        num_steps: rollout length per update.
        num_epochs: passes over each rollout.
        num_minibatches: minibatches per epoch; must divide `num_envs * num_steps`.
        network: "mlp" or "minatar_cnn" torso.
        hidden_sizes: torso widths.
        activation: one of `networks.ACTIVATIONS`.
        anneal_lr: linearly decay the learning rate to 0 over the run.
        normalize_obs: standardise observations with running statistics kept in the agent state
            (evaluation uses the same statistics).
        normalize_reward: scale rewards by the running std of the discounted return.
        init_log_std: initial log-std of the Gaussian policy (continuous actions).
        eval_every: updates between evaluations; 0 picks `num_updates // 20` (at least 1).
        eval_episodes: evaluation episodes per evaluation.
        eval_greedy: evaluate the policy's mode rather than samples.
        eval_max_steps: step cap of an evaluation episode; 0 uses the env's episode limit.
        env_kwargs: static options of the environment's factory as `(name, value)` pairs (a dict is
            accepted and stored as sorted pairs), e.g. `{"length": 8}` for `CombinationLock-v0`.
    """

    env_name: str = "CartPole-v1"
    total_timesteps: int = 500_000
    num_envs: int = 4
    num_steps: int = 128
    num_epochs: int = 4
    num_minibatches: int = 4
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
    env_kwargs: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        check_env_name(self)
        check_env_kwargs(self)
        check_positive_int(
            self, "total_timesteps", "num_envs", "num_steps", "num_epochs", "num_minibatches", "eval_episodes"
        )
        check_network_options(self)
        check_bool(self, "anneal_lr", "normalize_obs", "normalize_reward", "eval_greedy")
        check_number(self, "init_log_std")
        batch = self.num_envs * self.num_steps
        if batch % self.num_minibatches:
            raise ValueError(
                f"PPOConfig.num_minibatches={self.num_minibatches} must divide the batch "
                f"num_envs * num_steps = {batch}"
            )
        if self.total_timesteps < batch:
            raise ValueError(
                f"PPOConfig.total_timesteps={self.total_timesteps} is smaller than one update "
                f"(num_envs * num_steps = {batch})"
            )
        check_eval_options(self, self.num_updates)

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // (self.num_envs * self.num_steps)

    @property
    def minibatch_size(self) -> int:
        return self.num_envs * self.num_steps // self.num_minibatches


class PPOHParams(NamedTuple):
    """Traced PPO hyperparameters: any field can be swept by stacking values and vmapping.

    `kl_coef` weighs a penalty `KL(pi || pi_init)` to the bootstrap policy; it acts only in runs
    started from `init_params` (see `make_agent`), elsewhere it is ignored.
    """

    learning_rate: float = 2.5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    kl_coef: float = 0.0


HPARAM_RANGES = {
    "learning_rate": POSITIVE,
    "gamma": UNIT,
    "gae_lambda": UNIT,
    "clip_eps": POSITIVE,
    "ent_coef": NON_NEGATIVE,
    "vf_coef": NON_NEGATIVE,
    "max_grad_norm": Range(0.0, low_open=True),
    "kl_coef": NON_NEGATIVE,
}


class PPOState(NamedTuple):
    params: Any
    opt_state: Any
    obs_stats: RunningMeanStd
    envs: EnvBatch
    update_count: jax.Array
    # Frozen actor params of the bootstrap policy (runs started from `init_params`), else None.
    ref_params: Any = None


def make_agent(config: PPOConfig) -> Agent:
    """Build PPO's pure functions for `config` (see `purerl.loop.Agent`)."""
    env, env_params = make_env(config.env_name, "ppo", SPEC.action_spaces, config.env_kwargs)
    spec = env.spec
    train_env = make_training_env(env, config.normalize_reward)
    network = make_actor_critic(
        spec, config.network, config.hidden_sizes, config.activation, config.init_log_std
    )
    norm = ObsNormalizer(config.normalize_obs, spec.observation_space.shape)
    eval_every, num_blocks = eval_blocks(config.num_updates, config.eval_every)
    steps_per_update = config.num_envs * config.num_steps
    grad_steps_per_update = config.num_epochs * config.num_minibatches
    eval_max_steps = config.eval_max_steps or spec.max_episode_steps

    def optimizer(hparams: PPOHParams) -> optax.GradientTransformation:
        if not config.anneal_lr:
            return adam_with_clipping(hparams.learning_rate, hparams.max_grad_norm)
        schedule = linear_decay(hparams.learning_rate, num_blocks * eval_every, grad_steps_per_update)
        return adam_with_clipping(schedule, hparams.max_grad_norm)

    policy_evaluator = make_policy_evaluator(
        env, env_params, network, norm, config.eval_episodes, eval_max_steps, config.eval_greedy
    )

    def init(key: PRNGKey, hparams: PPOHParams, init_params: Any = None) -> PPOState:
        """`init_params`: optional bootstrap policy (`ActorCritic` params, e.g. BC's output) whose actor
        replaces the fresh one; the critic stays freshly initialised (see `agents.bootstrap`)."""
        key_net, key_env = jax.random.split(key)
        envs = rollout.reset_batch(train_env, env_params, key_env, config.num_envs)
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
        return PPOState(
            params, optimizer(hparams).init(params), obs_stats, envs, jnp.zeros((), jnp.int32), ref_params
        )

    def loss_fn(params, obs_stats, batch, hparams):
        pi, value = network.apply(params, norm(obs_stats, batch["obs"]))
        log_prob = pi.log_prob(batch["action"])
        pg_loss, diag = ppo_policy_loss(
            log_prob, batch["log_prob"], normalize(batch["advantage"]), hparams.clip_eps
        )
        v_loss = clipped_value_loss(value, batch["value"], batch["target"], hparams.clip_eps)
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

    def update(state: PPOState, hparams: PPOHParams, key: PRNGKey):
        key_collect, key_learn = jax.random.split(key)
        tx = optimizer(hparams)

        def policy(obs, key):
            pi, value = network.apply(state.params, norm(state.obs_stats, obs))
            action = pi.sample(key)
            return action, {"log_prob": pi.log_prob(action), "value": value}

        envs, traj, info = rollout.collect(
            train_env, env_params, policy, state.envs, key_collect, config.num_steps
        )
        next_values = network.apply(
            state.params, norm(state.obs_stats, traj.final_obs), method=ActorCritic.value
        )
        discounts = hparams.gamma * (1.0 - traj.terminated.astype(jnp.float32))
        ends = traj.terminated | traj.truncated
        advantages = returns.batch_time_major(returns.gae)(
            traj.reward, discounts, hparams.gae_lambda, traj.extras["value"], next_values, ends
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

        def epoch(carry, key):
            params, opt_state = carry
            order = jax.random.permutation(key, steps_per_update)
            minibatches = jax.tree.map(
                lambda x: x[order].reshape((config.num_minibatches, config.minibatch_size, *x.shape[1:])),
                flat,
            )

            def minibatch_step(carry, batch):
                params, opt_state = carry
                grads, metrics = jax.grad(loss_fn, has_aux=True)(params, state.obs_stats, batch, hparams)
                updates, opt_state = tx.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), metrics

            return jax.lax.scan(minibatch_step, (params, opt_state), minibatches)

        (params, opt_state), metrics = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(key_learn, config.num_epochs)
        )
        obs_stats = norm.update(state.obs_stats, flat["obs"])
        metrics = {k: v.mean() for k, v in metrics.items()}
        metrics.update(rollout.episode_metrics(info))
        new_state = PPOState(params, opt_state, obs_stats, envs, state.update_count + 1, state.ref_params)
        return new_state, metrics

    def evaluate(state: PPOState, hparams: PPOHParams, key: PRNGKey):
        return policy_evaluator(state.params, state.obs_stats, key)

    return Agent(init, update, evaluate, num_blocks, eval_every, steps_per_update)


SPEC = register_algorithm(
    AlgoSpec(
        name="ppo",
        summary="Proximal Policy Optimization with GAE (clipped surrogate); discrete and continuous actions",
        config_cls=PPOConfig,
        hparams_cls=PPOHParams,
        make_agent=make_agent,
        hparam_ranges=HPARAM_RANGES,
        action_spaces=("discrete", "continuous"),
    )
)
validate = SPEC.validate_hparams
make_train = SPEC.make_train
