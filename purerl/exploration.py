"""Exploration helpers shared by agents: epsilon-greedy action selection and schedules, and the random
network distillation bonus."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from purerl.config import Flag, PositiveInt
from purerl.normalization import RunningMeanStd
from purerl.types import PRNGKey, Transition

__all__ = [
    "RND",
    "RNDOptions",
    "RNDState",
    "add_novelty",
    "epsilon_greedy",
    "init_novelty",
    "linear_schedule",
    "make_rnd",
    "novelty_rewards",
]


def linear_schedule(start: Any, end: Any, duration: Any, count: Any) -> jax.Array:
    """Linear interpolation from `start` to `end` over `duration` counts, then constant at `end`.

        value(count) = start + min(count / duration, 1) * (end - start)

    Every argument may be traced (e.g. swept hyperparameters). A `duration <= 0` gives `end` at once.

    Returns:
        float32 scalar (or the broadcast shape of the arguments).
    """
    duration = jnp.asarray(duration, jnp.float32)
    fraction = jnp.where(
        duration > 0, jnp.clip(jnp.asarray(count, jnp.float32) / jnp.maximum(duration, 1e-8), 0.0, 1.0), 1.0
    )
    return jnp.asarray(start, jnp.float32) + fraction * (jnp.asarray(end, jnp.float32) - start)


def epsilon_greedy(key: PRNGKey, q_values: jax.Array, epsilon: Any) -> jax.Array:
    """With probability `epsilon` a uniformly random action, otherwise `argmax_a q_values`.

    Each row draws independently. The random branch may pick the greedy action too, so the greedy
    action's probability is `1 - epsilon + epsilon / A` (the usual convention, Sutton & Barto 2018,
    sec. 5.4).

    Args:
        key: PRNG key.
        q_values: `[..., A]` action values.
        epsilon: scalar (may be traced) or an array broadcastable to `q_values.shape[:-1]`.

    Returns:
        `[...]` int32 actions.
    """
    key_explore, key_action = jax.random.split(key)
    batch_shape = q_values.shape[:-1]
    greedy = jnp.argmax(q_values, axis=-1).astype(jnp.int32)
    random = jax.random.randint(key_action, batch_shape, 0, q_values.shape[-1], dtype=jnp.int32)
    explore = jax.random.uniform(key_explore, batch_shape) < epsilon
    return jnp.where(explore, random, greedy)


class RNDState(NamedTuple):
    """Random network distillation's part of an agent state.

    Attributes:
        predictor: params of the trained predictor network.
        target: params of the fixed, randomly initialised target network.
        opt_state: the predictor's optimiser state.
        bonus_stats: running moments of the raw bonus (a scalar `RunningMeanStd`), to scale it.
    """

    predictor: Any
    target: Any
    opt_state: Any
    bonus_stats: RunningMeanStd


class RND(NamedTuple):
    """Random network distillation (Burda, Edwards, Storkey & Klimov, 2018, "Exploration by random
    network distillation") as pure functions.

    The novelty of an observation `s` is the error of a predictor trained to match a fixed random
    network on the states seen so far: `b(s) = ||f_pred(s) - f_target(s)||^2`, large on rarely visited
    states and shrinking as they are revisited. An agent adds `coef * b(s') / std(b)` to the reward of
    the transition into `s'`, with `std(b)` the running std of the raw bonus (the paper scales by the
    std of intrinsic *returns*; scaling by the bonus itself keeps one statistic and the same invariance
    to the bonus' magnitude). Observations are used raw (the paper whitens them; DeepSea's one-hot grids
    need no whitening).

    Attributes:
        network: the torso shared by predictor and target (`[..., *obs_shape] -> [..., D]`).
        tx: the predictor's optimiser.
    """

    network: Any
    tx: optax.GradientTransformation

    def init(self, key: PRNGKey, obs: jax.Array) -> RNDState:
        """A fresh predictor and target for observations like `obs` `[B, *obs_shape]`."""
        key_pred, key_target = jax.random.split(key)
        predictor = self.network.init(key_pred, obs)
        return RNDState(
            predictor, self.network.init(key_target, obs), self.tx.init(predictor), RunningMeanStd.create(())
        )

    def bonus(self, state: RNDState, obs: jax.Array) -> jax.Array:
        """Raw novelty `[...]` of observations `[..., *obs_shape]`."""
        error = self.network.apply(state.predictor, obs) - self.network.apply(state.target, obs)
        return jnp.sum(jnp.square(error), axis=-1)

    def intrinsic_reward(self, state: RNDState, obs: jax.Array) -> tuple[jax.Array, RNDState]:
        """Scaled bonus `b(s) / std(b)` of a batch `[N, *obs_shape]` (`[N]`), the statistics updated first."""
        raw = self.bonus(state, obs)
        stats = state.bonus_stats.update_batch(raw)
        return raw / jnp.sqrt(stats.var + 1e-8), state._replace(bonus_stats=stats)

    def learn(self, state: RNDState, obs: jax.Array) -> tuple[RNDState, dict[str, jax.Array]]:
        """One predictor step on the mean bonus of a batch `[N, *obs_shape]` (the regression loss)."""

        def loss(predictor):
            value = jnp.mean(self.bonus(state._replace(predictor=predictor), obs))
            return value, {"rnd_loss": value}

        grads, metrics = jax.grad(loss, has_aux=True)(state.predictor)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.predictor)
        return state._replace(
            predictor=optax.apply_updates(state.predictor, updates), opt_state=opt_state
        ), metrics


@dataclasses.dataclass(frozen=True)
class RNDOptions:
    """The novelty bonus as an option of an on-policy agent's config (PPO, PQN).

    Attributes:
        rnd: add a random-network-distillation bonus to the reward (`RND`, weight `hparams.rnd_coef`);
            predictor and target are ReLU MLPs with the agent's `hidden_sizes` and `rnd_features`
            outputs, the predictor trained with one Adam step per update on the rollout's next
            observations.
        rnd_features: output width of the RND networks.
    """

    rnd: Flag = False
    rnd_features: PositiveInt = 32


def make_rnd(config: Any, obs_ndim: int, learning_rate: Any, max_grad_norm: Any) -> RND:
    """The `RND` of an `RNDOptions` config (with `hidden_sizes`) for observations of `obs_ndim` axes."""
    from purerl import learn
    from purerl.networks import make_torso

    torso = make_torso("mlp", (*config.hidden_sizes, config.rnd_features), "relu", False, obs_ndim)
    return RND(torso, learn.make_optimizer(learning_rate, max_grad_norm))


def init_novelty(config: Any, key: PRNGKey, obs: jax.Array, hparams: Any) -> RNDState | None:
    """An agent's RND state for a run of `config` (`RNDOptions`), None when `config.rnd` is off.

    `hparams` supplies `learning_rate` and `max_grad_norm` (the agent's own, for the predictor);
    `obs` `[B, *obs_shape]` gives the input shape.
    """
    if not config.rnd:
        return None
    rnd = make_rnd(config, obs.ndim - 1, hparams.learning_rate, hparams.max_grad_norm)
    return rnd.init(key, obs)


def add_novelty(
    config: Any, state: RNDState | None, traj: Transition, hparams: Any
) -> tuple[jax.Array, RNDState | None, dict[str, jax.Array]]:
    """`(rewards [T, B], state, metrics)`: `novelty_rewards` with `hparams.rnd_coef` when `config.rnd`
    is on, the rollout's own rewards (and no metrics) otherwise."""
    if not config.rnd:
        return traj.reward, state, {}
    obs_ndim = traj.obs.ndim - 2
    rnd = make_rnd(config, obs_ndim, hparams.learning_rate, hparams.max_grad_norm)
    return novelty_rewards(rnd, state, traj, hparams.rnd_coef)


def novelty_rewards(
    rnd: RND, state: RNDState, traj: Transition, coef: Any
) -> tuple[jax.Array, RNDState, dict[str, jax.Array]]:
    """A rollout's rewards with the scaled novelty of each transition's next observation added, and the
    predictor trained on those observations.

    Args:
        rnd: the bonus.
        state: its state.
        traj: the rollout, `[T, B]`; `final_obs` is the observation each transition reached.
        coef: the bonus weight (may be traced).

    Returns:
        `(rewards [T, B], new state, {"rnd_loss", "intrinsic_reward"})`.
    """
    next_obs = traj.final_obs.reshape((-1, *traj.final_obs.shape[2:]))
    bonus, state = rnd.intrinsic_reward(state, next_obs)
    rewards = traj.reward + coef * bonus.reshape(traj.reward.shape)
    state, metrics = rnd.learn(state, next_obs)
    return rewards, state, {**metrics, "intrinsic_reward": bonus.mean()}
