"""What the value-based agents (DQN, PQN, bootstrapped DQN) share: Q-network options, the Q-network for
an environment, the regression losses, the values of the actions taken and the evaluation policy."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from purerl.config import Activation, Flag, Unit, one_of
from purerl.envs.core import EnvSpec
from purerl.exploration import epsilon_greedy, linear_schedule
from purerl.loop import NetworkOptions
from purerl.losses import huber_loss, mse_loss
from purerl.networks import DiscreteQNetwork
from purerl.types import PRNGKey

LOSSES = {"mse": mse_loss, "huber": huber_loss}


@dataclasses.dataclass(frozen=True)
class QOptions(NetworkOptions):
    """Options of a Q-network agent (besides the torso of `NetworkOptions`).

    Attributes:
        loss: regression loss onto the targets, "mse" or "huber".
        layer_norm: LayerNorm after each hidden layer.
        dueling: dueling value/advantage head (Wang et al., 2016).
        anneal_lr: decay the learning rate linearly to 0 over the run.
        eval_epsilon: exploration rate of evaluation episodes when `eval_greedy` is False (greedy
            evaluation takes `argmax_a Q`).
    """

    activation: Activation = "relu"
    loss: one_of("mse", "huber") = "mse"
    layer_norm: Flag = True
    dueling: Flag = False
    anneal_lr: Flag = True
    eval_epsilon: Unit = 0.05


def make_q_network(spec: EnvSpec, options: QOptions) -> DiscreteQNetwork:
    """The Q-network of `options` for a discrete-action environment."""
    return DiscreteQNetwork(
        spec.action_space.n,
        options.network,
        options.hidden_sizes,
        options.activation,
        options.layer_norm,
        options.dueling,
        obs_ndim=len(spec.observation_space.shape),
    )


def taken_action_values(q_values: jax.Array, actions: jax.Array) -> jax.Array:
    """`Q(s, a)` of the actions taken: the regression input of every Q-learning loss.

    Args:
        q_values: `[N, A]` Q-values of each observation.
        actions: `[N]` integer actions.

    Returns:
        `[N]` `q_values[i, actions[i]]`.
    """
    return jnp.take_along_axis(q_values, actions[:, None].astype(jnp.int32), axis=-1)[:, 0]


def exploration_epsilon(hparams: Any, config: Any, env_steps: jax.Array) -> jax.Array:
    """The behaviour policy's epsilon after `env_steps` steps: linear from `hparams.epsilon_start` (the
    exploration rate at the first step) to `hparams.epsilon_end` over `hparams.exploration_fraction` of
    the run's env steps, then constant at `epsilon_end`."""
    duration = hparams.exploration_fraction * config.env_steps_run
    return linear_schedule(hparams.epsilon_start, hparams.epsilon_end, duration, env_steps)


def make_q_act(
    network: DiscreteQNetwork, options: Any, params_of: Callable[[Any], Any]
) -> Callable[[PRNGKey, Any, jax.Array], jax.Array]:
    """`act(key, state, obs)`: greedy in the Q-values of `params_of(state)` if `options.eval_greedy`,
    else epsilon-greedy with `options.eval_epsilon`."""
    epsilon = 0.0 if options.eval_greedy else options.eval_epsilon

    def act(key: PRNGKey, state: Any, obs: jax.Array) -> jax.Array:
        return epsilon_greedy(key, network.apply(params_of(state), obs), epsilon)

    return act
