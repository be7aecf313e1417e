"""Deep Expected SARSA: the target by hand, and its limit epsilon = 0 (double DQN's target)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from purerl.agents.dqn import DQNConfig, DQNHParams, dqn_targets
from purerl.agents.expected_sarsa import epsilon_greedy_probs, expected_sarsa_targets
from purerl.types import Transition


def _linear_q(params, obs):
    return obs @ params


def _batch():
    eye = jnp.eye(2)
    return Transition(
        obs=eye,
        action=jnp.array([0, 1]),
        reward=jnp.array([1.0, 2.0]),
        terminated=jnp.array([False, True]),
        truncated=jnp.array([False, False]),
        final_obs=eye[jnp.array([1, 0])],
        extras={},
    )


def test_epsilon_greedy_probabilities_by_hand():
    probs = epsilon_greedy_probs(jnp.array([[1.0, 3.0, 2.0]]), 0.3)
    np.testing.assert_allclose(probs, [[0.1, 0.8, 0.1]], rtol=1e-6)


def test_target_by_hand():
    online = jnp.array([[0.0, 1.0], [1.0, 0.0]])  # greedy: action 1 in state 0, action 0 in state 1
    target = jnp.array([[4.0, 8.0], [2.0, 6.0]])
    hparams = DQNHParams(gamma=0.5, epsilon_end=0.2)
    y = expected_sarsa_targets(_linear_q, online, target, _batch(), hparams, None)
    # Transition 0 lands in state 1: pi = (0.9, 0.1) -> 0.9 * 2 + 0.1 * 6 = 2.4; y = 1 + 0.5 * 2.4.
    # Transition 1 terminated: y = r.
    np.testing.assert_allclose(y, [1.0 + 0.5 * 2.4, 2.0], rtol=1e-6)


def test_zero_epsilon_is_the_double_dqn_target():
    online = jnp.array([[0.3, 1.0], [1.0, -2.0]])
    target = jnp.array([[4.0, 8.0], [2.0, 6.0]])
    hparams = DQNHParams(gamma=0.9, epsilon_end=0.0)
    config = DQNConfig(double_dqn=True, total_timesteps=4096)
    np.testing.assert_allclose(
        expected_sarsa_targets(_linear_q, online, target, _batch(), hparams, None),
        dqn_targets(_linear_q, online, target, _batch(), hparams, config),
        rtol=1e-6,
    )
