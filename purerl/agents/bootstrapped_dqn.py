"""Bootstrapped DQN with randomized prior functions (Osband et al., 2016, "Deep exploration via
bootstrapped DQN"; Osband, Aslanides & Cassirer, 2018, "Randomized prior functions for deep RL").

`K = num_heads` Q-networks form an ensemble, held as one vmapped stack of parameters `[K, ...]`. Head
`k` has a trainable network `f_k` and a fixed, randomly initialised prior network `p_k` of the same
shape, and acts with

    Q_k(s, a) = f_k(s, a) + prior_scale * p_k(s, a)          (p_k never trained: stop_gradient)

Deep exploration comes from Thompson sampling over heads: every environment follows one head for a
whole episode and draws a new head uniformly when its episode ends (the loop's `observe` hook, so with
`num_steps = 1` the switch happens exactly at the episode boundary). The prior keeps heads different
where there is no data, so each head is an optimistic guess somewhere else. Every stored transition
carries a bootstrap mask `m ~ Bernoulli(mask_prob)^K`; head `k` learns only from transitions with
`m_k = 1` (`mask_prob = 1`: every head sees all data, as bsuite's baseline; diversity then comes from
the priors and initialisations alone). Each head regresses onto its own one-step target

    y_k = r + gamma * (1 - terminated) * max_a Q_k^target(s', a)

(double-DQN target as a switch), with its own target network and optimiser; the evaluation policy is
greedy in the heads' mean Q-value. Defaults follow bsuite's `boot_dqn` baseline where CPU budgets allow
(prior scale 5, Adam 1e-3, gamma 0.99, hard target copies every 4 gradient steps, no epsilon) with
fewer heads (10, not 20), smaller networks and fewer gradient steps per environment step.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from purerl import learn
from purerl.agents.dqn import transition_targets
from purerl.agents.off_policy import (
    OffPolicyConfig,
    OffPolicyLearner,
    OffPolicyState,
    make_off_policy_algorithm,
    periodic_target_update,
    scan_gradient_steps,
)
from purerl.agents.registry import AlgoSpec, register_algorithm
from purerl.agents.value_based import QOptions, make_q_network, taken_action_values
from purerl.config import (
    Flag,
    NonNegative,
    NonNegativeInt,
    Positive,
    PositiveInt,
    Sizes,
    Unit,
    UnitPositive,
    one_of,
)
from purerl.envs.core import Env
from purerl.loop import Algorithm
from purerl.types import PRNGKey, Transition

ELEMENTWISE_LOSSES = {"mse": lambda q, y: 0.5 * jnp.square(q - y), "huber": optax.huber_loss}


@dataclasses.dataclass(frozen=True)
class BootstrappedDQNConfig(OffPolicyConfig, QOptions):
    """Static options: the replay loop's (`OffPolicyConfig`), the Q-networks' (`QOptions`; prior
    networks have the same architecture) and the ensemble's.

    Attributes:
        num_heads: ensemble size `K`.
        target_update_period: gradient steps between target-network updates.
        double_dqn: double-DQN targets per head.
    """

    env_name: str = "DeepSea-v0"
    total_timesteps: PositiveInt = 50_000
    num_envs: PositiveInt = 1
    num_steps: PositiveInt = 1
    gradient_steps: PositiveInt = 1
    batch_size: PositiveInt = 64
    buffer_size: PositiveInt = 10_000
    learning_starts: NonNegativeInt = 128
    random_steps: NonNegativeInt = 0
    hidden_sizes: Sizes = (32, 32)
    layer_norm: Flag = False
    anneal_lr: Flag = False
    loss: one_of("mse", "huber") = "mse"
    num_heads: PositiveInt = 10
    target_update_period: PositiveInt = 4
    double_dqn: Flag = False


class BootstrappedDQNHParams(NamedTuple):
    """Traced hyperparameters: any field can be swept by stacking values and vmapping.

    Attributes:
        learning_rate: Adam step size of every head.
        gamma: discount.
        tau: target update coefficient (1 = hard copy).
        prior_scale: weight `beta` of the fixed prior networks (0 = plain bootstrapped DQN).
        mask_prob: probability that a head trains on a given transition.
        max_grad_norm: global-norm gradient clipping, per head.
    """

    learning_rate: Positive = 1e-3
    gamma: Unit = 0.99
    tau: UnitPositive = 1.0
    prior_scale: NonNegative = 5.0
    mask_prob: UnitPositive = 1.0
    max_grad_norm: Positive = 10.0


class BootstrappedDQNLearner(NamedTuple):
    """The ensemble's part of the training state (`OffPolicyState.learner`); leaves of the first four
    fields have a leading `[K]` head axis.

    Attributes:
        params: trainable networks `f_k`.
        prior_params: fixed prior networks `p_k`.
        target_params: target copies of `f_k` (the prior needs no copy: it never changes).
        opt_state: one optimiser state per head.
        heads: `[num_envs]` int32, the head each environment follows this episode.
        grad_steps: int32 scalar, gradient steps taken (for the target-update period).
        prior_scale: float32 scalar, `hparams.prior_scale` (kept so that `act`, which has no
            hyperparameters, weighs the priors as training did).
    """

    params: Any
    prior_params: Any
    target_params: Any
    opt_state: Any
    heads: jax.Array
    grad_steps: jax.Array
    prior_scale: jax.Array


# The state `train` carries: the shared off-policy state with a `BootstrappedDQNLearner` inside.
BootstrappedDQNState = OffPolicyState


def build(config: BootstrappedDQNConfig, env: Env, env_params: Any) -> Algorithm:
    """Bootstrapped DQN's pure functions for `config` on `env` (see `purerl.loop.Algorithm`)."""
    network = make_q_network(env.spec, config)
    regression = ELEMENTWISE_LOSSES[config.loss]
    num_heads = config.num_heads

    def optimizer(hparams: BootstrappedDQNHParams) -> optax.GradientTransformation:
        return learn.make_optimizer(hparams.learning_rate, hparams.max_grad_norm)

    def head_q(params: Any, prior: Any, obs: jax.Array, prior_scale: Any) -> jax.Array:
        """`[..., A]` Q-values of one head."""
        return network.apply(params, obs) + prior_scale * jax.lax.stop_gradient(network.apply(prior, obs))

    def ensemble_q(ls: BootstrappedDQNLearner, obs: jax.Array) -> jax.Array:
        """`[K, B, A]` Q-values of every head."""
        return jax.vmap(head_q, in_axes=(0, 0, None, None))(ls.params, ls.prior_params, obs, ls.prior_scale)

    def init(
        key: PRNGKey, obs: jax.Array, action: jax.Array, hparams: BootstrappedDQNHParams
    ) -> BootstrappedDQNLearner:
        key_params, key_prior, key_heads = jax.random.split(key, 3)
        init_heads = jax.vmap(network.init, in_axes=(0, None))
        params = init_heads(jax.random.split(key_params, num_heads), obs)
        prior_params = init_heads(jax.random.split(key_prior, num_heads), obs)
        opt_state = jax.vmap(optimizer(hparams).init)(params)
        heads = jax.random.randint(key_heads, (obs.shape[0],), 0, num_heads, jnp.int32)
        prior_scale = jnp.asarray(hparams.prior_scale, jnp.float32)
        zero = jnp.zeros((), jnp.int32)
        return BootstrappedDQNLearner(params, prior_params, params, opt_state, heads, zero, prior_scale)

    def explore(key: PRNGKey, ls: BootstrappedDQNLearner, env_steps, obs: jax.Array, hparams):
        q = ensemble_q(ls, obs)  # [K, B, A]
        q = q[ls.heads, jnp.arange(obs.shape[0])]  # each environment's own head: [B, A]
        # Ties (e.g. prior_scale = 0 at init) are broken at random rather than towards action 0.
        noise = jax.random.uniform(key, q.shape, q.dtype, 0.0, 1e-6)
        return jnp.argmax(q + noise * (q == q.max(-1, keepdims=True)), axis=-1).astype(jnp.int32)

    def observe(key: PRNGKey, ls: BootstrappedDQNLearner, traj: Transition, hparams: BootstrappedDQNHParams):
        """A new head for every environment whose episode ended, and bootstrap masks `[T, B, K]`."""
        key_heads, key_mask = jax.random.split(key)
        ended = jnp.any(traj.terminated | traj.truncated, axis=0)
        fresh = jax.random.randint(key_heads, ls.heads.shape, 0, num_heads, jnp.int32)
        masks = jax.random.bernoulli(key_mask, hparams.mask_prob, (*traj.reward.shape, num_heads))
        return ls._replace(heads=jnp.where(ended, fresh, ls.heads)), {"mask": masks.astype(jnp.float32)}

    def head_loss(params, prior, target_params, mask, batch: Transition, hparams):
        """One head's masked regression onto its own one-step (DQN) targets; the prior is part of every
        Q-value, the target network's included."""
        apply = lambda p, obs: head_q(p, prior, obs, hparams.prior_scale)
        targets = jax.lax.stop_gradient(
            transition_targets(apply, params, target_params, batch, hparams.gamma, config.double_dqn)
        )
        q_taken = taken_action_values(apply(params, batch.obs), batch.action)
        loss = jnp.mean(mask * regression(q_taken, targets))  # as bsuite: masked-out items count as 0
        return loss, {"loss": loss, "q_mean": q_taken.mean(), "target_mean": targets.mean()}

    def learn_fn(key: PRNGKey, ls: BootstrappedDQNLearner, batches: Transition, hparams):
        tx = optimizer(hparams)

        def head_step(params, opt_state, prior, target_params, mask, batch):
            loss = lambda p, b: head_loss(p, prior, target_params, mask, b, hparams)
            params, opt_state, metrics, _ = learn.gradient_step(tx, loss, params, opt_state, batch)
            return params, opt_state, metrics

        def step(ls: BootstrappedDQNLearner, batch: Transition):
            masks = jnp.moveaxis(batch.extras["mask"], -1, 0)  # [K, batch]
            params, opt_state, metrics = jax.vmap(head_step, in_axes=(0, 0, 0, 0, 0, None))(
                ls.params, ls.opt_state, ls.prior_params, ls.target_params, masks, batch
            )
            grad_steps = ls.grad_steps + 1
            target_params = periodic_target_update(
                grad_steps, config.target_update_period, hparams.tau, params, ls.target_params
            )
            new = ls._replace(
                params=params, target_params=target_params, opt_state=opt_state, grad_steps=grad_steps
            )
            return new, jax.tree.map(jnp.mean, metrics)

        return scan_gradient_steps(step, ls, batches)

    def act(key: PRNGKey, state: BootstrappedDQNLearner, obs: jax.Array) -> jax.Array:
        del key
        return jnp.argmax(ensemble_q(state, obs).mean(axis=0), axis=-1).astype(jnp.int32)

    learner = OffPolicyLearner(init, explore, act, learn_fn, observe)
    return make_off_policy_algorithm(config, env, env_params, learner)


SUMMARY = "Bootstrapped DQN with randomized prior functions: a vmapped K-head ensemble, one head per episode"
SPEC = register_algorithm(
    AlgoSpec("bootstrapped_dqn", SUMMARY, BootstrappedDQNConfig, BootstrappedDQNHParams, build, ("discrete",))
)
make_train, preset = SPEC.make_train, SPEC.preset
