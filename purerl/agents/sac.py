"""Soft Actor-Critic with a learned temperature, for continuous actions.

Haarnoja et al., 2018, "Soft Actor-Critic: Off-Policy Maximum Entropy Deep Reinforcement Learning with a
Stochastic Actor" (ICML), and Haarnoja et al., 2018, "Soft Actor-Critic Algorithms and Applications"
(arXiv:1812.05905), whose version this is: no separate state-value network, twin Q critics with the
minimum, target critics by Polyak averaging, and the temperature `alpha` tuned by gradient descent toward
a target entropy (default `-|A|`).

Each gradient step, on a minibatch `(s, a, r, terminated, s')` from the replay buffer:

    critic:      y = r + gamma (1 - terminated) [min_k Q'_k(s', a') - alpha log pi(a'|s')],  a' ~ pi(.|s')
                 L_Q = sum_k 0.5 E[(Q_k(s, a) - y)^2]
    actor:       L_pi = E[alpha log pi(a~|s) - min_k Q_k(s, a~)],  a~ = reparameterised sample
    temperature: L_alpha = E[-alpha (log pi(a~|s) + target_entropy)]     (eq. 18 of the 2nd paper)
    targets:     Q' <- tau Q + (1 - tau) Q'

The policy is a tanh-squashed Gaussian rescaled to the action box (`distributions.TanhGaussian`),
evaluated with its deterministic action `squash(mean)`. The loop (replay, warm-up, masking until
`learning_starts`) is `agents.off_policy`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from purerl.agents import off_policy
from purerl.agents.registry import AlgoSpec, register_algorithm
from purerl.config import Flag, Positive, Real, Unit, UnitPositive
from purerl.envs.core import Env
from purerl.loop import Algorithm
from purerl.losses import ensemble_td_loss
from purerl.networks import QEnsemble, SquashedGaussianActor
from purerl.types import PRNGKey, Transition


@dataclasses.dataclass(frozen=True)
class SACConfig(off_policy.ContinuousControlConfig):
    """Static SAC options: those of `OffPolicyConfig` plus the ones below. Validated on construction.

    Attributes:
        learn_temperature: tune `alpha` toward the target entropy; if False it stays at
            `SACHParams.init_alpha`.
        log_std_min: lower clip of the policy's pre-tanh log-std.
        log_std_max: upper clip of the policy's pre-tanh log-std.
    """

    learn_temperature: Flag = True
    log_std_min: Real = -5.0
    log_std_max: Real = 2.0

    def check(self) -> None:
        super().check()
        if not self.log_std_min < self.log_std_max:
            raise ValueError(
                f"SACConfig.log_std_min={self.log_std_min} must be smaller than "
                f"log_std_max={self.log_std_max}"
            )


class SACHParams(NamedTuple):
    """Traced SAC hyperparameters (sweep any of them by stacking and vmapping).

    Attributes:
        actor_lr: Adam step size of the policy.
        critic_lr: Adam step size of the twin critics.
        alpha_lr: Adam step size of `log alpha`.
        gamma: discount.
        tau: Polyak coefficient of the target critics.
        init_alpha: initial temperature.
        target_entropy_per_dim: target entropy per action dimension; the target is this times `|A|`
            (the paper's heuristic is -1, i.e. `-|A|`).
    """

    # 1e-3 is tuned on Pendulum-v1 with (64, 64) networks; the papers use 3e-4 with 256-unit networks.
    actor_lr: Positive = 1e-3
    critic_lr: Positive = 1e-3
    alpha_lr: Positive = 1e-3
    gamma: Unit = 0.99
    tau: UnitPositive = 0.005
    init_alpha: Positive = 1.0
    target_entropy_per_dim: Real = -1.0


class SACLearnerState(NamedTuple):
    """SAC's own part of the training state (`off_policy.OffPolicyState.learner`).

    Attributes:
        actor_params: policy parameters.
        critic_params: twin critic parameters (leaves with a leading `[2]` axis).
        target_critic_params: Polyak-averaged copy of `critic_params`.
        log_alpha: float32 scalar, log of the temperature.
        actor_opt_state, critic_opt_state, alpha_opt_state: Adam states.
    """

    actor_params: Any
    critic_params: Any
    target_critic_params: Any
    log_alpha: jax.Array
    actor_opt_state: Any
    critic_opt_state: Any
    alpha_opt_state: Any


# The state `train` carries: the shared off-policy state with a `SACLearnerState` inside.
SACState = off_policy.OffPolicyState


def temperature_loss(log_alpha: jax.Array, log_prob: jax.Array, target_entropy: jax.Array) -> jax.Array:
    """`L(alpha) = E[-alpha (log pi(a|s) + target_entropy)]`, `alpha = exp(log_alpha)`.

    When the policy's entropy `-E[log pi]` is below the target, `log pi + target > 0` and the gradient
    with respect to `log_alpha` is negative, so descent raises `alpha` (more entropy bonus); above the
    target it lowers `alpha`. Optimising `log_alpha` keeps `alpha` positive.

    Args:
        log_alpha: scalar.
        log_prob: `[N]` log-probabilities of fresh policy samples (no gradient flows into them).
        target_entropy: scalar target entropy.
    """
    return -jnp.mean(jnp.exp(log_alpha) * (jax.lax.stop_gradient(log_prob) + target_entropy))


def build(config: SACConfig, env: Env, env_params: Any) -> Algorithm:
    """SAC's pure functions for `config` on `env` (see `purerl.loop.Algorithm`)."""
    space = off_policy.bounded_action_box(env, "sac")
    action_dim = space.shape[0]
    actor = SquashedGaussianActor(
        action_dim,
        space.low,
        space.high,
        config.hidden_sizes,
        config.activation,
        config.log_std_min,
        config.log_std_max,
    )
    critic = QEnsemble(2, config.hidden_sizes, config.activation)

    def optimizers(hparams: SACHParams):
        return optax.adam(hparams.actor_lr), optax.adam(hparams.critic_lr), optax.adam(hparams.alpha_lr)

    def init(key: PRNGKey, obs: jax.Array, action: jax.Array, hparams: SACHParams) -> SACLearnerState:
        key_actor, key_critic = jax.random.split(key)
        actor_params = actor.init(key_actor, obs)
        critic_params = critic.init(key_critic, obs, action)
        log_alpha = jnp.log(jnp.asarray(hparams.init_alpha, jnp.float32))
        actor_tx, critic_tx, alpha_tx = optimizers(hparams)
        return SACLearnerState(
            actor_params,
            critic_params,
            critic_params,
            log_alpha,
            actor_tx.init(actor_params),
            critic_tx.init(critic_params),
            alpha_tx.init(log_alpha),
        )

    def explore(key: PRNGKey, ls: SACLearnerState, env_steps: jax.Array, obs: jax.Array, hparams: SACHParams):
        return actor.apply(ls.actor_params, obs).sample(key)

    def act(key: PRNGKey, ls: SACLearnerState, obs: jax.Array) -> jax.Array:
        return actor.apply(ls.actor_params, obs).mode()

    def critic_loss(critic_params, ls: SACLearnerState, batch: Transition, hparams: SACHParams, key):
        next_action, next_log_prob = actor.apply(ls.actor_params, batch.final_obs).sample_and_log_prob(key)
        next_q = critic.apply(ls.target_critic_params, batch.final_obs, next_action).min(axis=0)
        soft_value = next_q - jnp.exp(ls.log_alpha) * next_log_prob
        target = off_policy.one_step_target(batch.reward, batch.terminated, soft_value, hparams.gamma)
        q = critic.apply(critic_params, batch.obs, batch.action)
        return ensemble_td_loss(q, target), q.mean()

    def actor_loss(actor_params, critic_params, log_alpha, batch: Transition, key):
        action, log_prob = actor.apply(actor_params, batch.obs).sample_and_log_prob(key)
        q = critic.apply(critic_params, batch.obs, action).min(axis=0)
        return jnp.mean(jnp.exp(log_alpha) * log_prob - q), log_prob

    def gradient_step(ls: SACLearnerState, batch: Transition, key: PRNGKey, hparams: SACHParams):
        key_critic, key_actor = jax.random.split(key)
        actor_tx, critic_tx, alpha_tx = optimizers(hparams)

        (q_loss, q_mean), grads = jax.value_and_grad(critic_loss, has_aux=True)(
            ls.critic_params, ls, batch, hparams, key_critic
        )
        updates, critic_opt_state = critic_tx.update(grads, ls.critic_opt_state, ls.critic_params)
        critic_params = optax.apply_updates(ls.critic_params, updates)

        (pi_loss, log_prob), grads = jax.value_and_grad(actor_loss, has_aux=True)(
            ls.actor_params, critic_params, ls.log_alpha, batch, key_actor
        )
        updates, actor_opt_state = actor_tx.update(grads, ls.actor_opt_state, ls.actor_params)
        actor_params = optax.apply_updates(ls.actor_params, updates)

        target_entropy = hparams.target_entropy_per_dim * action_dim
        alpha_loss, grad = jax.value_and_grad(temperature_loss)(ls.log_alpha, log_prob, target_entropy)
        log_alpha, alpha_opt_state = ls.log_alpha, ls.alpha_opt_state
        if config.learn_temperature:
            updates, alpha_opt_state = alpha_tx.update(grad, ls.alpha_opt_state, ls.log_alpha)
            log_alpha = optax.apply_updates(ls.log_alpha, updates)

        new = SACLearnerState(
            actor_params,
            critic_params,
            off_policy.polyak_update(ls.target_critic_params, critic_params, hparams.tau),
            log_alpha,
            actor_opt_state,
            critic_opt_state,
            alpha_opt_state,
        )
        metrics = {
            "critic_loss": q_loss,
            "actor_loss": pi_loss,
            "alpha_loss": alpha_loss,
            "alpha": jnp.exp(log_alpha),
            "entropy": -log_prob.mean(),
            "q_mean": q_mean,
        }
        return new, metrics

    def learn(key: PRNGKey, ls: SACLearnerState, batches: Transition, hparams: SACHParams):
        keys = jax.random.split(key, jax.tree.leaves(batches)[0].shape[0])
        step = lambda ls, xs: gradient_step(ls, *xs, hparams)  # xs: (batch, key)
        return off_policy.scan_gradient_steps(step, ls, (batches, keys))

    learner = off_policy.OffPolicyLearner(init, explore, act, learn)
    return off_policy.make_off_policy_algorithm(config, env, env_params, learner)


SUMMARY = "Soft Actor-Critic (twin critics, learned temperature); continuous actions"
SPEC = register_algorithm(AlgoSpec("sac", SUMMARY, SACConfig, SACHParams, build, ("continuous",)))
make_train, preset = SPEC.make_train, SPEC.preset
