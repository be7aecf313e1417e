"""Deep Expected SARSA: DQN with the expected value of the next action under the epsilon-greedy policy
as the target (van Seijen et al., 2009, "A theoretical and empirical analysis of Expected Sarsa"):

    y = r + gamma * (1 - terminated) * sum_a pi(a | s') Q_target(s', a),
    pi(a | s') = (1 - epsilon) [a = argmax_b Q(s', b)] + epsilon / |A|,

with `epsilon = epsilon_end`, the behaviour policy's exploration rate once it has decayed. `epsilon = 0`
gives double DQN's target (online argmax, target-network value); everything else (replay, exploration,
target network, optimiser) is DQN's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from purerl.agents import dqn
from purerl.agents.registry import AlgoSpec, register_algorithm
from purerl.types import Transition


@dataclasses.dataclass(frozen=True)
class ExpectedSARSAConfig(dqn.DQNConfig):
    """DQN's options (`dqn.DQNConfig`); `double_dqn` is unused (the target policy picks the action)."""


def epsilon_greedy_probs(q_values: jax.Array, epsilon: Any) -> jax.Array:
    """`[..., A]` probabilities of the epsilon-greedy policy of `q_values` (ties go to the first argmax)."""
    num_actions = q_values.shape[-1]
    greedy = jax.nn.one_hot(jnp.argmax(q_values, axis=-1), num_actions)
    return (1.0 - epsilon) * greedy + epsilon / num_actions


def expected_sarsa_targets(
    apply_fn: Callable, params: Any, target_params: Any, batch: Transition, hparams: Any, config: Any
) -> jax.Array:
    """`[N]` targets: the target network's values averaged under the online epsilon-greedy policy."""
    final_obs = batch.final_obs.astype(jnp.float32)
    probs = epsilon_greedy_probs(apply_fn(params, final_obs), hparams.epsilon_end)
    next_value = (probs * apply_fn(target_params, final_obs)).sum(axis=-1)
    return batch.reward + hparams.gamma * (1.0 - batch.terminated.astype(jnp.float32)) * next_value


def build(config: ExpectedSARSAConfig, env: Any, env_params: Any) -> Any:
    """DQN's algorithm with the Expected SARSA target."""
    return dqn.build(config, env, env_params, expected_sarsa_targets)


SUMMARY = "Deep Expected SARSA: DQN with the epsilon-greedy expectation of the next action's value"
SPEC = register_algorithm(
    AlgoSpec(
        "expected_sarsa", SUMMARY, ExpectedSARSAConfig, dqn.DQNHParams, build, ("discrete",), dqn.PRESETS
    )
)
make_train, preset = SPEC.make_train, SPEC.preset
