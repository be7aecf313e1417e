"""DQN and PQN: hand-checked targets and heads, config validation, masking, learning on probe envs,
seed independence and vmap-equals-loop.

Compiling a training program dominates the run time, so every compiled program is built once in a
module-scoped fixture and shared; the configs are tiny.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.agents import dqn, pqn
from purerl.agents.dqn import DQNConfig, DQNHParams, q_learning_targets, transition_targets
from purerl.agents.pqn import PQNConfig, PQNHParams, q_lambda_targets
from purerl.exploration import epsilon_greedy, linear_schedule
from purerl.losses import huber_loss
from purerl.networks import DiscreteQNetwork, dueling_aggregate
from purerl.types import Transition

# --------------------------------------------------------------------------------------------------
# Hand-checked pieces
# --------------------------------------------------------------------------------------------------


def test_double_dqn_target_vs_vanilla_on_hand_table():
    rewards = jnp.array([1.0, 0.0, 2.0])
    discounts = jnp.array([0.9, 0.5, 0.0])
    next_q_target = jnp.array([[1.0, 5.0], [3.0, 2.0], [7.0, 8.0]])
    next_q_online = jnp.array([[4.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # Vanilla: max of the target table: 5, 3, (8 but discount 0).
    vanilla = q_learning_targets(rewards, discounts, next_q_target)
    np.testing.assert_allclose(vanilla, [1.0 + 0.9 * 5.0, 0.5 * 3.0, 2.0], rtol=1e-6)
    # Double: online argmax picks actions 0, 1, 1; the target table evaluates them: 1, 2, 8.
    double = q_learning_targets(rewards, discounts, next_q_target, next_q_online)
    np.testing.assert_allclose(double, [1.0 + 0.9 * 1.0, 0.5 * 2.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(jax.jit(q_learning_targets)(rewards, discounts, next_q_target), vanilla)


def test_dueling_aggregation_hand_values():
    value = jnp.array([2.0, -1.0])
    advantages = jnp.array([[1.0, 2.0, 6.0], [0.0, 0.0, 3.0]])
    # Means 3 and 1: Q = V + A - mean(A).
    expected = [[0.0, 1.0, 5.0], [-2.0, -2.0, 1.0]]
    np.testing.assert_allclose(dueling_aggregate(value, advantages), expected, rtol=1e-6)


def test_dueling_network_mean_q_is_value_head():
    net = DiscreteQNetwork(3, hidden_sizes=(8,), dueling=True)
    obs = jax.random.normal(jax.random.key(0), (5, 4))
    params = net.init(jax.random.key(1), obs)
    q = net.apply(params, obs)
    chex.assert_shape(q, (5, 3))
    # With the mean advantage subtracted, mean_a Q(s, a) is the value head's output.
    features = jax.nn.relu(
        obs @ params["params"]["_FlatMLP_0"]["MLP_0"]["Dense_0"]["kernel"]
        + params["params"]["_FlatMLP_0"]["MLP_0"]["Dense_0"]["bias"]
    )
    value = features @ params["params"]["Dense_0"]["kernel"][:, 0] + params["params"]["Dense_0"]["bias"][0]
    np.testing.assert_allclose(q.mean(axis=-1), value, rtol=1e-5, atol=1e-6)


def _linear_q(params, obs):
    """Q(obs) = obs @ params: a hand-readable Q table over one-hot observations."""
    return obs @ params


def test_dqn_target_bootstraps_final_obs_on_truncation_zero_on_termination():
    # Three one-hot states; Q_target(s, .) rows and Q_online(s, .) rows by hand.
    target_params = jnp.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]])
    online_params = jnp.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    eye = jnp.eye(3)
    batch = Transition(
        obs=eye[jnp.array([0, 0, 0])],
        action=jnp.array([0, 1, 0]),
        reward=jnp.array([1.0, 1.0, 1.0]),
        terminated=jnp.array([False, True, False]),
        truncated=jnp.array([False, False, True]),
        # Row 2 is truncated: final_obs is state 2, while the next step's obs would be a fresh reset.
        final_obs=eye[jnp.array([1, 1, 2])],
        extras={},
    )
    gamma = 0.5
    vanilla = transition_targets(_linear_q, online_params, target_params, batch, gamma, False)
    # Running: 1 + 0.5 * max(10, 20); terminated: 1; truncated: 1 + 0.5 * max(100, 200).
    np.testing.assert_allclose(vanilla, [11.0, 1.0, 101.0], rtol=1e-6)
    double = transition_targets(_linear_q, online_params, target_params, batch, gamma, True)
    # Online argmax in states 1 and 2 is action 0: Q_target = 10 and 100.
    np.testing.assert_allclose(double, [6.0, 1.0, 51.0], rtol=1e-6)


def test_pqn_targets_truncation_termination_and_lambda():
    # One stream, T = 4: step 1 terminates, step 2 is truncated, step 3 ends the segment.
    rewards = jnp.array([[1.0], [2.0], [3.0], [4.0]])
    terminated = jnp.array([[False], [True], [False], [False]])
    truncated = jnp.array([[False], [False], [True], [False]])
    next_q = jnp.array([[[5.0, 6.0]], [[50.0, 60.0]], [[7.0, 8.0]], [[9.0, 1.0]]])
    gamma, lam = 0.5, 0.5
    targets = q_lambda_targets(rewards, terminated, truncated, next_q, gamma, lam)
    g3 = 4.0 + 0.5 * 9.0  # segment end: bootstrap max Q = 9
    g2 = 3.0 + 0.5 * 8.0  # truncated: bootstrap max Q(final_obs) = 8, trace cut
    g1 = 2.0  # terminated: no bootstrap
    g0 = 1.0 + 0.5 * (0.5 * 6.0 + 0.5 * g1)
    np.testing.assert_allclose(targets[:, 0], [g0, g1, g2, g3], rtol=1e-6)


def test_huber_loss_hand_values():
    pred = jnp.array([0.0, 0.0, 0.0])
    target = jnp.array([0.5, 2.0, -3.0])
    # 0.5 * 0.25, 1 * (2 - 0.5), 1 * (3 - 0.5)
    np.testing.assert_allclose(huber_loss(pred, target), (0.125 + 1.5 + 2.5) / 3, rtol=1e-6)


def test_epsilon_greedy_and_schedule():
    q = jnp.tile(jnp.array([0.0, 3.0, 1.0]), (4000, 1))
    greedy = epsilon_greedy(jax.random.key(0), q, 0.0)
    assert np.all(np.asarray(greedy) == 1)
    explore = np.asarray(epsilon_greedy(jax.random.key(1), q, 0.3))
    # P(action 1) = 0.7 + 0.3 / 3 = 0.8, P(0) = P(2) = 0.1.
    np.testing.assert_allclose(np.bincount(explore, minlength=3) / 4000, [0.1, 0.8, 0.1], atol=0.03)
    np.testing.assert_allclose(
        [float(linear_schedule(1.0, 0.1, 100, c)) for c in (0, 50, 100, 500)],
        [1.0, 0.55, 0.1, 0.1],
        rtol=1e-6,
    )
    assert float(linear_schedule(1.0, 0.1, 0, 0)) == pytest.approx(0.1)


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"buffer_size": 64, "batch_size": 128, "learning_starts": 128}, "buffer_size"),
        ({"buffer_size": 4, "batch_size": 4, "learning_starts": 4, "num_envs": 8}, "buffer_size"),
        ({"learning_starts": 64, "batch_size": 128}, "learning_starts"),
        ({"learning_starts": -1}, "learning_starts"),
        ({"learning_starts": 1000, "total_timesteps": 1000}, "learning_starts"),
        ({"gradient_steps": 0}, "gradient_steps"),
        ({"target_update_period": 0}, "target_update_period"),
        ({"loss": "l1"}, "loss"),
        ({"replay_obs_dtype": "int4"}, "replay_obs_dtype"),
        ({"env_name": "CartPol-v1"}, "env_name"),
        ({"hidden_sizes": (64, 0)}, "hidden_sizes"),
    ],
)
def test_dqn_config_validation_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=f"DQNConfig.{field}"):
        DQNConfig(**overrides)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"num_minibatches": 3}, "num_minibatches"),
        ({"num_envs": 0}, "num_envs"),
        ({"total_timesteps": 10}, "total_timesteps"),
        ({"loss": "l1"}, "loss"),
        ({"layer_norm": 1}, "layer_norm"),
    ],
)
def test_pqn_config_validation_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=f"PQNConfig.{field}"):
        PQNConfig(**overrides)


@pytest.mark.parametrize(
    ("module", "hparams", "field"),
    [
        (dqn, DQNHParams(tau=0.0), "tau"),
        (dqn, DQNHParams(epsilon_end=1.5), "epsilon_end"),
        (dqn, DQNHParams(learning_rate=jnp.array([1e-3, -1.0])), "learning_rate"),
        (pqn, PQNHParams(q_lambda=1.2), "q_lambda"),
        (pqn, PQNHParams(gamma=float("nan")), "gamma"),
    ],
)
def test_hparams_validation_names_the_field(module, hparams, field):
    with pytest.raises(ValueError, match=field):
        module.SPEC.validate_hparams(hparams)


@pytest.mark.parametrize(("module", "config_cls"), [(dqn, DQNConfig), (pqn, PQNConfig)])
def test_discrete_actions_only(module, config_cls):
    with pytest.raises(ValueError, match=r"continuous.*Algorithms for continuous actions: .*ppo"):
        module.SPEC.make_agent(config_cls(env_name="Pendulum-v1"))
    assert module.SPEC.action_spaces == ("discrete",)


# --------------------------------------------------------------------------------------------------
# DQN mechanics: masking before learning_starts, target-network update
# --------------------------------------------------------------------------------------------------


def test_dqn_masks_updates_before_learning_starts_and_syncs_target():
    config = DQNConfig(
        env_name="Probe-ObsActionReward-v0",
        total_timesteps=64,
        num_envs=4,
        num_steps=2,
        gradient_steps=2,
        batch_size=8,
        buffer_size=32,
        learning_starts=16,
        target_update_period=2,
        hidden_sizes=(8,),
    )
    agent = dqn.SPEC.make_agent(config)
    update = jax.jit(agent.update)
    key = jax.random.key(0)
    hparams = DQNHParams(learning_rate=1e-2, tau=0.5)
    state0 = agent.init(key, hparams)
    state1, metrics1 = update(jax.random.key(1), state0, hparams)
    # 8 env steps < 16: buffer filled, nothing learned.
    assert int(state1.buffer.size) == 8 and int(state1.env_steps) == 8
    assert float(metrics1["learning"]) == 0.0 and int(state1.learner.grad_steps) == 0
    chex.assert_trees_all_equal(state1.learner.params, state0.learner.params)
    chex.assert_trees_all_equal(state1.learner.target_params, state0.learner.params)
    chex.assert_trees_all_equal(state1.learner.opt_state, state0.learner.opt_state)

    state2, metrics2 = update(jax.random.key(2), state1, hparams)
    # 16 env steps: both gradient steps count; the second one (grad_steps = 2) syncs with tau = 0.5.
    assert float(metrics2["learning"]) == 1.0 and int(state2.learner.grad_steps) == 2
    assert not jax.tree.all(jax.tree.map(jnp.array_equal, state2.learner.params, state1.learner.params))
    expected_target = jax.tree.map(
        lambda p, t: 0.5 * p + 0.5 * t, state2.learner.params, state1.learner.target_params
    )
    chex.assert_trees_all_close(state2.learner.target_params, expected_target, rtol=1e-6)


# --------------------------------------------------------------------------------------------------
# Learning on probe environments (shared compiled programs)
# --------------------------------------------------------------------------------------------------

PROBE_SEEDS = 2

DQN_PROBE = {
    "total_timesteps": 3_000,
    "num_envs": 8,
    "num_steps": 1,
    "gradient_steps": 1,
    "batch_size": 32,
    "buffer_size": 1_000,
    "learning_starts": 200,
    "target_update_period": 10,
    "hidden_sizes": (32,),
    "eval_every": 125,
    "eval_episodes": 8,
}
DQN_PROBE_HPARAMS = DQNHParams(
    learning_rate=3e-3, gamma=0.9, tau=1.0, epsilon_end=0.05, exploration_fraction=0.3
)

PQN_PROBE = {
    "total_timesteps": 3_072,
    "num_envs": 8,
    "num_steps": 8,
    "num_epochs": 2,
    "num_minibatches": 2,
    "hidden_sizes": (32,),
    "eval_every": 16,
    "eval_episodes": 8,
}
PQN_PROBE_HPARAMS = PQNHParams(learning_rate=3e-3, gamma=0.9, q_lambda=0.5, exploration_fraction=0.3)


def _run(module, config, hparams, num_seeds=PROBE_SEEDS, seed=0):
    train = jax.jit(jax.vmap(module.make_train(config), in_axes=(0, None)))
    keys = jax.random.split(jax.random.key(seed), num_seeds)
    return keys, train(keys, hparams)


def _q_params(state):
    """The Q-network parameters of a DQN (`OffPolicyState`) or PQN (`PQNState`) training state."""
    return state.learner.params if isinstance(state, dqn.DQNState) else state.params


def _q_values(config, params, obs):
    net = DiscreteQNetwork(
        2 if "ObsAction" in config.env_name else 1,
        config.network,
        config.hidden_sizes,
        config.activation,
        config.layer_norm,
        config.dueling,
    )
    return jax.vmap(net.apply, in_axes=(0, None))(params, obs)


@pytest.fixture(scope="module")
def dqn_obs_action():
    config = DQNConfig(env_name="Probe-ObsActionReward-v0", **DQN_PROBE)
    return config, *_run(dqn, config, DQN_PROBE_HPARAMS)


@pytest.fixture(scope="module")
def pqn_obs_action():
    config = PQNConfig(env_name="Probe-ObsActionReward-v0", **PQN_PROBE)
    return config, *_run(pqn, config, PQN_PROBE_HPARAMS)


@pytest.mark.parametrize("fixture", ["dqn_obs_action", "pqn_obs_action"])
def test_learns_obs_dependent_action_values(fixture, request):
    config, _, out = request.getfixturevalue(fixture)
    q = _q_values(config, _q_params(out.state), jnp.array([[1.0], [-1.0]]))  # [seed, obs, action]
    # Reward +1 for action 1 on obs +1 (action 0 on obs -1), -1 otherwise; one step, so Q = reward.
    np.testing.assert_allclose(q, np.broadcast_to([[-1.0, 1.0], [1.0, -1.0]], q.shape), atol=0.2)
    np.testing.assert_allclose(out.metrics["eval_return"][:, -1], 1.0)


@pytest.mark.parametrize(
    ("module", "config_cls", "overrides", "hparams"),
    [
        (dqn, DQNConfig, DQN_PROBE, DQN_PROBE_HPARAMS),
        (pqn, PQNConfig, PQN_PROBE, PQN_PROBE_HPARAMS),
    ],
    ids=["dqn", "pqn"],
)
def test_two_step_probe_discounts_and_bootstraps(module, config_cls, overrides, hparams):
    config = config_cls(env_name="Probe-TwoStep-v0", **overrides)
    _, out = _run(module, config, hparams)
    q = _q_values(config, _q_params(out.state), jnp.array([[0.0], [1.0]]))[..., 0]  # [seed, obs]
    # V([0]) = gamma * 1, V([1]) = 1 (terminal reward, no bootstrap after it).
    np.testing.assert_allclose(q, np.broadcast_to([0.9, 1.0], q.shape), atol=0.1)


@pytest.mark.parametrize("fixture", ["dqn_obs_action", "pqn_obs_action"])
def test_seeds_are_independent(fixture, request):
    _, _, out = request.getfixturevalue(fixture)
    leaves = jax.tree.leaves(_q_params(out.state))
    assert all(not np.allclose(leaf[0], leaf[1]) for leaf in leaves if leaf.size > PROBE_SEEDS)


# A few updates only: long runs may diverge from float reassociation under vmap (argmax ties).
TINY = {
    "dqn": (
        dqn,
        DQNConfig(
            env_name="Probe-ObsActionReward-v0",
            total_timesteps=96,
            num_envs=4,
            num_steps=2,
            batch_size=8,
            buffer_size=64,
            learning_starts=16,
            target_update_period=2,
            hidden_sizes=(8,),
            eval_every=4,
            eval_episodes=2,
        ),
        DQNHParams(learning_rate=1e-2),
    ),
    "pqn": (
        pqn,
        PQNConfig(
            env_name="Probe-ObsActionReward-v0",
            total_timesteps=96,
            num_envs=4,
            num_steps=2,
            num_epochs=2,
            num_minibatches=2,
            hidden_sizes=(8,),
            eval_every=4,
            eval_episodes=2,
        ),
        PQNHParams(learning_rate=1e-2),
    ),
}


@pytest.mark.parametrize("name", ["dqn", "pqn"])
def test_vmap_equals_loop(name):
    module, config, hparams = TINY[name]
    train = module.make_train(config)
    keys = jax.random.split(jax.random.key(3), 2)
    batched = jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, hparams)
    single = jax.jit(train)
    for i in range(2):
        one = single(keys[i], hparams)
        chex.assert_trees_all_close(jax.tree.map(lambda x, i=i: x[i], batched), one, rtol=1e-5, atol=1e-6)
