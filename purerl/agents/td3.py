"""Twin Delayed Deep Deterministic policy gradient (TD3), for continuous actions.

Fujimoto, van Hoof & Meger, 2018, "Addressing Function Approximation Error in Actor-Critic Methods"
(ICML). Three changes to DDPG (Lillicrap et al., 2016):

* clipped double Q-learning: twin critics, the target uses the smaller of the two target critics;
* target policy smoothing: the target action is the target actor's action plus clipped Gaussian noise,
  `a' = clip(mu'(s') + clip(eps, -c, c), low, high)`, `eps ~ N(0, sigma^2)`;
* delayed policy updates: the actor and all target networks move once per `policy_delay` critic steps.

    critic: y = r + gamma (1 - terminated) min_k Q'_k(s', a');  L_Q = sum_k 0.5 E[(Q_k(s, a) - y)^2]
    actor:  L_mu = -E[Q_1(s, mu(s))]                       (every `policy_delay`-th step)
    targets: Q' <- tau Q + (1 - tau) Q',  mu' <- tau mu + (1 - tau) mu'   (with the actor)

Exploration adds `N(0, exploration_noise^2)` to the actor's action and clips to the box; evaluation uses
`mu(s)`. Noise scales are fractions of the box's half-width (`(high - low) / 2`), the paper's "relative to
max action" convention, so the defaults (0.1, 0.2, 0.5) carry over between environments. The loop
(replay, warm-up, masking until `learning_starts`) is `agents.off_policy`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from purerl.agents import off_policy
from purerl.agents.registry import AlgoSpec, register_algorithm
from purerl.config import NonNegative, Positive, PositiveInt, Unit, UnitPositive, check_divides
from purerl.envs.core import Env
from purerl.loop import Algorithm
from purerl.losses import ensemble_td_loss
from purerl.networks import DeterministicActor, QEnsemble
from purerl.types import PRNGKey, Transition


@dataclasses.dataclass(frozen=True)
class TD3Config(off_policy.ContinuousControlConfig):
    """Static TD3 options: those of `OffPolicyConfig` plus `policy_delay`. Validated on construction.

    Attributes:
        policy_delay: critic steps per actor (and target) step; must divide `gradient_steps`, because
            the delay is laid out statically (`policy_delay` critic steps, then one actor step) rather
            than computed and masked, which would spend an actor gradient on every critic step.
    """

    policy_delay: PositiveInt = 2

    def check(self) -> None:
        super().check()
        check_divides(self, "gradient_steps", "policy_delay")


class TD3HParams(NamedTuple):
    """Traced TD3 hyperparameters (sweep any of them by stacking and vmapping).

    Attributes:
        actor_lr: Adam step size of the actor.
        critic_lr: Adam step size of the twin critics.
        gamma: discount.
        tau: Polyak coefficient of the target networks.
        exploration_noise: std of the Gaussian exploration noise, relative to the box half-width.
        policy_noise: std of the target-smoothing noise, relative to the box half-width.
        noise_clip: the smoothing noise is clipped to `±noise_clip` (relative to the half-width).
    """

    # 1e-3, as in the TD3 paper; tuned on Pendulum-v1 with (64, 64) networks.
    actor_lr: Positive = 1e-3
    critic_lr: Positive = 1e-3
    gamma: Unit = 0.99
    tau: UnitPositive = 0.005
    exploration_noise: NonNegative = 0.1
    policy_noise: NonNegative = 0.2
    noise_clip: NonNegative = 0.5


class TD3LearnerState(NamedTuple):
    """TD3's own part of the training state (`off_policy.OffPolicyState.learner`).

    Attributes:
        actor_params, critic_params: online parameters (critic leaves have a leading `[2]` axis).
        target_actor_params, target_critic_params: their Polyak-averaged copies.
        actor_opt_state, critic_opt_state: Adam states.
    """

    actor_params: Any
    critic_params: Any
    target_actor_params: Any
    target_critic_params: Any
    actor_opt_state: Any
    critic_opt_state: Any


# The state `train` carries: the shared off-policy state with a `TD3LearnerState` inside.
TD3State = off_policy.OffPolicyState


def smoothed_target_action(
    target_action: jax.Array, noise: jax.Array, noise_clip: jax.Array, low: jax.Array, high: jax.Array
) -> jax.Array:
    """Target policy smoothing: `clip(target_action + clip(noise, -noise_clip, noise_clip), low, high)`.

    Args:
        target_action: `[N, A]` target actor's action `mu'(s')`.
        noise: `[N, A]` Gaussian noise, already scaled to action units.
        noise_clip: bound on the noise, in action units (scalar or `[A]`).
        low: `[A]` lower bounds of the action box.
        high: `[A]` upper bounds.

    Returns:
        `[N, A]` smoothed target actions inside the box.
    """
    return jnp.clip(target_action + jnp.clip(noise, -noise_clip, noise_clip), low, high)


def build(config: TD3Config, env: Env, env_params: Any) -> Algorithm:
    """TD3's pure functions for `config` on `env` (see `purerl.loop.Algorithm`)."""
    space = off_policy.bounded_action_box(env, "td3")
    low, high = space.low_array, space.high_array
    half_width = 0.5 * (high - low)
    actor = DeterministicActor(space.shape[0], space.low, space.high, config.hidden_sizes, config.activation)
    critic = QEnsemble(2, config.hidden_sizes, config.activation)
    num_groups = config.gradient_steps // config.policy_delay

    def optimizers(hparams: TD3HParams):
        return optax.adam(hparams.actor_lr), optax.adam(hparams.critic_lr)

    def init(key: PRNGKey, obs: jax.Array, action: jax.Array, hparams: TD3HParams) -> TD3LearnerState:
        key_actor, key_critic = jax.random.split(key)
        actor_params = actor.init(key_actor, obs)
        critic_params = critic.init(key_critic, obs, action)
        actor_tx, critic_tx = optimizers(hparams)
        return TD3LearnerState(
            actor_params,
            critic_params,
            actor_params,
            critic_params,
            actor_tx.init(actor_params),
            critic_tx.init(critic_params),
        )

    def explore(key: PRNGKey, ls: TD3LearnerState, env_steps: jax.Array, obs: jax.Array, hparams: TD3HParams):
        action = actor.apply(ls.actor_params, obs)
        noise = hparams.exploration_noise * half_width * jax.random.normal(key, action.shape)
        return jnp.clip(action + noise, low, high)

    def act(key: PRNGKey, ls: TD3LearnerState, obs: jax.Array) -> jax.Array:
        return actor.apply(ls.actor_params, obs)

    def critic_loss(critic_params, ls: TD3LearnerState, batch: Transition, hparams: TD3HParams, key):
        target_action = actor.apply(ls.target_actor_params, batch.final_obs)
        noise = hparams.policy_noise * half_width * jax.random.normal(key, target_action.shape)
        next_action = smoothed_target_action(target_action, noise, hparams.noise_clip * half_width, low, high)
        next_q = critic.apply(ls.target_critic_params, batch.final_obs, next_action).min(axis=0)
        target = off_policy.one_step_target(batch.reward, batch.terminated, next_q, hparams.gamma)
        q = critic.apply(critic_params, batch.obs, batch.action)
        return ensemble_td_loss(q, target), q.mean()

    def actor_loss(actor_params, critic_params, batch: Transition):
        # The first critic only, as in the paper: the minimum is for targets, not the policy gradient.
        return -jnp.mean(critic.apply(critic_params, batch.obs, actor.apply(actor_params, batch.obs))[0])

    def critic_step(ls: TD3LearnerState, xs, hparams: TD3HParams):
        batch, key = xs
        _, critic_tx = optimizers(hparams)
        (loss, q_mean), grads = jax.value_and_grad(critic_loss, has_aux=True)(
            ls.critic_params, ls, batch, hparams, key
        )
        updates, opt_state = critic_tx.update(grads, ls.critic_opt_state, ls.critic_params)
        ls = ls._replace(
            critic_params=optax.apply_updates(ls.critic_params, updates), critic_opt_state=opt_state
        )
        return ls, {"critic_loss": loss, "q_mean": q_mean}

    def delayed_group(ls: TD3LearnerState, xs, hparams: TD3HParams):
        """`policy_delay` critic steps, then one actor step on the last minibatch and the target updates."""
        batches, keys = xs
        critic = lambda s, x: critic_step(s, x, hparams)
        ls, metrics = off_policy.scan_gradient_steps(critic, ls, (batches, keys))
        last = jax.tree.map(lambda x: x[-1], batches)
        actor_tx, _ = optimizers(hparams)
        loss, grads = jax.value_and_grad(actor_loss)(ls.actor_params, ls.critic_params, last)
        updates, actor_opt_state = actor_tx.update(grads, ls.actor_opt_state, ls.actor_params)
        actor_params = optax.apply_updates(ls.actor_params, updates)
        ls = ls._replace(
            actor_params=actor_params,
            actor_opt_state=actor_opt_state,
            target_actor_params=off_policy.polyak_update(ls.target_actor_params, actor_params, hparams.tau),
            target_critic_params=off_policy.polyak_update(
                ls.target_critic_params, ls.critic_params, hparams.tau
            ),
        )
        return ls, {**metrics, "actor_loss": loss}

    def learn(key: PRNGKey, ls: TD3LearnerState, batches: Transition, hparams: TD3HParams):
        grouped = jax.tree.map(lambda x: x.reshape((num_groups, config.policy_delay, *x.shape[1:])), batches)
        keys = jax.random.split(key, config.gradient_steps)
        keys = keys.reshape((num_groups, config.policy_delay, *keys.shape[1:]))
        return off_policy.scan_gradient_steps(lambda s, x: delayed_group(s, x, hparams), ls, (grouped, keys))

    learner = off_policy.OffPolicyLearner(init, explore, act, learn)
    return off_policy.make_off_policy_algorithm(config, env, env_params, learner)


SUMMARY = "TD3: twin critics, target policy smoothing, delayed actor updates; continuous actions"
SPEC = register_algorithm(AlgoSpec("td3", SUMMARY, TD3Config, TD3HParams, build, ("continuous",)))
make_train, preset = SPEC.make_train, SPEC.preset
