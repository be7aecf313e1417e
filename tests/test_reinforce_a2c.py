"""REINFORCE and A2C: hand-checked targets and losses, config validation, probe learning, vmap and seeds.

Compiling a training program dominates the run time, so every training run uses a tiny config on a
one-step probe and is compiled once per module (module-scoped fixtures share it between tests).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl import returns
from purerl.agents import a2c, algorithms, reinforce
from purerl.agents.actor_critic import make_actor_critic
from purerl.envs import make

# --------------------------------------------------------------------------------------------------------
# Monte-Carlo targets (REINFORCE)
# --------------------------------------------------------------------------------------------------------


def _col(*values, dtype=jnp.float32):
    """`[T]` values as a `[T, 1]` time-major batch."""
    return jnp.asarray(values, dtype)[:, None]


def test_monte_carlo_targets_mask_incomplete_episode():
    # Episode 1 is steps 0-1 (terminates at 1); episode 2 starts at step 2 and is still running.
    rewards = _col(1.0, 2.0, 3.0)
    terminated = _col(False, True, False, dtype=bool)
    truncated = _col(False, False, False, dtype=bool)
    g, valid = reinforce.monte_carlo_targets(rewards, terminated, truncated, 0.5)
    np.testing.assert_allclose(g[:, 0], [1.0 + 0.5 * 2.0, 2.0, 3.0])
    np.testing.assert_array_equal(valid[:, 0], [True, True, False])


def test_monte_carlo_targets_bootstrap_segment_end():
    rewards = _col(1.0, 2.0, 3.0)
    terminated = _col(False, True, False, dtype=bool)
    truncated = _col(False, False, False, dtype=bool)
    next_values = _col(7.0, 8.0, 10.0)
    g, valid = reinforce.monte_carlo_targets(rewards, terminated, truncated, 0.5, next_values, "bootstrap")
    # The terminated step ignores its next value; the running episode completes with V(s_T) = 10.
    np.testing.assert_allclose(g[:, 0], [2.0, 2.0, 3.0 + 0.5 * 10.0])
    assert bool(valid.all())


def test_monte_carlo_targets_truncation_bootstraps_only_with_baseline():
    rewards = _col(1.0, 1.0, 1.0)
    terminated = _col(False, False, True, dtype=bool)
    truncated = _col(False, True, False, dtype=bool)
    with_baseline, valid = reinforce.monte_carlo_targets(
        rewards, terminated, truncated, 0.5, _col(5.0, 20.0, 9.0)
    )
    np.testing.assert_allclose(with_baseline[:, 0], [1.0 + 0.5 * 11.0, 1.0 + 0.5 * 20.0, 1.0])
    without, _ = reinforce.monte_carlo_targets(rewards, terminated, truncated, 0.5)
    np.testing.assert_allclose(without[:, 0], [1.5, 1.0, 1.0])
    assert bool(valid.all())


def test_monte_carlo_targets_bootstrap_needs_values():
    flags = _col(False, dtype=bool)
    with pytest.raises(ValueError, match="bootstrap"):
        reinforce.monte_carlo_targets(_col(1.0), flags, flags, 0.9, None, "bootstrap")


# --------------------------------------------------------------------------------------------------------
# REINFORCE loss: hand-checked values and the effect of the baseline on the gradient
# --------------------------------------------------------------------------------------------------------

LOG_PROB = jnp.array([-0.5, -1.0, -2.0])
ENTROPY = jnp.array([0.6, 0.5, 0.4])
MC_RETURNS = jnp.array([2.0, 1.0, 5.0])
VALID = jnp.array([True, True, False])  # the third step's episode did not finish
VALUES = jnp.array([1.0, 0.5, 9.0])


def test_reinforce_loss_without_baseline_hand_checked():
    loss, m = reinforce.reinforce_loss(LOG_PROB, ENTROPY, None, MC_RETURNS, VALID, 0.1, 0.5)
    # -mean over valid steps of A log pi: -((-0.5 * 2) + (-1.0 * 1)) / 2 = 1.0; entropy (0.6 + 0.5) / 2.
    np.testing.assert_allclose(m["policy_loss"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(m["entropy"], 0.55, rtol=1e-6)
    np.testing.assert_allclose(m["value_loss"], 0.0)
    np.testing.assert_allclose(loss, 1.0 - 0.1 * 0.55, rtol=1e-6)
    np.testing.assert_allclose(m["valid_fraction"], 2.0 / 3.0, rtol=1e-6)


def test_reinforce_loss_with_baseline_hand_checked():
    loss, m = reinforce.reinforce_loss(LOG_PROB, ENTROPY, VALUES, MC_RETURNS, VALID, 0.0, 0.5)
    # Advantages (2 - 1, 1 - 0.5) -> -((-0.5 * 1) + (-1.0 * 0.5)) / 2 = 0.5.
    np.testing.assert_allclose(m["policy_loss"], 0.5, rtol=1e-6)
    # 0.5 * mean((1 - 2)^2, (0.5 - 1)^2) = 0.3125; the masked step (9 vs 5) is ignored.
    np.testing.assert_allclose(m["value_loss"], 0.3125, rtol=1e-6)
    np.testing.assert_allclose(loss, 0.5 + 0.5 * 0.3125, rtol=1e-6)


def test_reinforce_loss_normalized_advantages_use_valid_steps_only():
    _, m = reinforce.reinforce_loss(LOG_PROB, ENTROPY, None, MC_RETURNS, VALID, 0.0, 0.0, True)
    # Valid returns (2, 1) standardise to (1, -1): -((-0.5 * 1) + (-1.0 * -1)) / 2 = -0.25.
    np.testing.assert_allclose(m["policy_loss"], -0.25, rtol=1e-5)


def test_baseline_changes_the_score_function_weights():
    def grads(values, vf_coef):
        def loss(log_prob, values):
            return reinforce.reinforce_loss(log_prob, ENTROPY, values, MC_RETURNS, VALID, 0.0, vf_coef)[0]

        return jax.grad(loss, argnums=(0, 1))(LOG_PROB, values)

    # d loss / d log_prob_t = -valid_t * A_t / num_valid.
    g_plain = jax.grad(
        lambda lp: reinforce.reinforce_loss(lp, ENTROPY, None, MC_RETURNS, VALID, 0.0, 0.5)[0]
    )(LOG_PROB)
    np.testing.assert_allclose(g_plain, [-2.0 / 2, -1.0 / 2, 0.0], rtol=1e-6)
    g_logp, g_values = grads(VALUES, 0.5)
    np.testing.assert_allclose(g_logp, [-(2.0 - 1.0) / 2, -(1.0 - 0.5) / 2, 0.0], rtol=1e-6)
    # The baseline is fitted by regression only: vf_coef * (V - G) / num_valid on valid steps.
    np.testing.assert_allclose(g_values, [0.5 * (1.0 - 2.0) / 2, 0.5 * (0.5 - 1.0) / 2, 0.0], rtol=1e-6)
    # With vf_coef = 0 no gradient reaches the baseline: the policy term holds it constant.
    _, g_values_no_fit = grads(VALUES, 0.0)
    np.testing.assert_allclose(g_values_no_fit, 0.0)


# --------------------------------------------------------------------------------------------------------
# A2C targets and loss
# --------------------------------------------------------------------------------------------------------

A2C_REWARDS = _col(1.0, 1.0, 1.0)
A2C_VALUES = _col(0.5, 0.5, 0.5)
A2C_NEXT_VALUES = _col(0.5, 0.5, 2.0)
NO_FLAGS = _col(False, False, False, dtype=bool)


def test_a2c_nstep_targets_hand_checked():
    adv, targets = a2c.a2c_targets(
        A2C_REWARDS, NO_FLAGS, NO_FLAGS, A2C_VALUES, A2C_NEXT_VALUES, 0.5, 0.95, "nstep", 2
    )
    # G_0 = 1 + 0.5 * 1 + 0.25 * V(s_2); G_1 = 1 + 0.5 * 1 + 0.25 * V(s_3); G_2 = 1 + 0.5 * V(s_3).
    np.testing.assert_allclose(targets[:, 0], [1.625, 2.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(adv[:, 0], [1.125, 1.5, 1.5], rtol=1e-6)
    expected = returns.n_step_returns(
        A2C_REWARDS[:, 0], 0.5 * jnp.ones(3), A2C_NEXT_VALUES[:, 0], NO_FLAGS[:, 0], 2
    )
    np.testing.assert_allclose(targets[:, 0], expected, rtol=1e-6)


def test_a2c_gae_targets_hand_checked():
    adv, targets = a2c.a2c_targets(
        A2C_REWARDS, NO_FLAGS, NO_FLAGS, A2C_VALUES, A2C_NEXT_VALUES, 0.5, 0.0, "gae", 1
    )
    # lambda = 0: one-step TD errors r + gamma V(s') - V(s).
    np.testing.assert_allclose(adv[:, 0], [0.75, 0.75, 1.5], rtol=1e-6)
    np.testing.assert_allclose(targets[:, 0], [1.25, 1.25, 2.0], rtol=1e-6)


def test_a2c_gae_lambda_one_equals_longest_nstep():
    key = jax.random.key(3)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    shape = (6, 4)
    rewards = jax.random.normal(k1, shape)
    terminated = jax.random.bernoulli(k2, 0.15, shape)
    truncated = jax.random.bernoulli(k3, 0.15, shape) & ~terminated
    values = jax.random.normal(k4, shape)
    # As in a rollout: inside an episode V(final_obs_t) is V(obs_{t+1}); elsewhere it is arbitrary.
    ends = terminated | truncated
    following = jnp.roll(values, -1, axis=0).at[-1].set(0.0)
    next_values = jnp.where(ends | (jnp.arange(shape[0]) == shape[0] - 1)[:, None], values + 0.3, following)
    args = (rewards, terminated, truncated, values, next_values, 0.9)
    adv_gae, tgt_gae = a2c.a2c_targets(*args, 1.0, "gae", 1)
    adv_n, tgt_n = a2c.a2c_targets(*args, 1.0, "nstep", shape[0])
    chex.assert_trees_all_close((adv_gae, tgt_gae), (adv_n, tgt_n), rtol=1e-5, atol=1e-5)
    discounts = 0.9 * (1.0 - terminated.astype(jnp.float32))
    expected = returns.batch_time_major(returns.gae)(rewards, discounts, 1.0, values, next_values, ends)
    np.testing.assert_allclose(adv_gae, expected, rtol=1e-6)


def test_a2c_loss_hand_checked():
    log_prob = jnp.array([-0.5, -1.0])
    entropy = jnp.array([0.6, 0.4])
    values = jnp.array([1.0, 2.0])
    advantages = jnp.array([2.0, -1.0])
    targets = jnp.array([3.0, 1.0])
    loss, m = a2c.a2c_loss(log_prob, entropy, values, advantages, targets, 0.01, 0.5)
    # -mean(A log pi) = -(-1.0 + 1.0) / 2 = 0; 0.5 * mean((1 - 3)^2, (2 - 1)^2) = 1.25; entropy 0.5.
    np.testing.assert_allclose(m["policy_loss"], 0.0, atol=1e-7)
    np.testing.assert_allclose(m["value_loss"], 1.25, rtol=1e-6)
    np.testing.assert_allclose(loss, 0.5 * 1.25 - 0.01 * 0.5, rtol=1e-6)
    g = jax.grad(lambda v: a2c.a2c_loss(log_prob, entropy, v, advantages, targets, 0.0, 0.5)[0])(values)
    np.testing.assert_allclose(g, [0.5 * (1.0 - 3.0) / 2, 0.5 * (2.0 - 1.0) / 2], rtol=1e-6)


# --------------------------------------------------------------------------------------------------------
# Configuration and hyperparameter validation
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_envs": 0}, "num_envs"),
        ({"num_steps": -1}, "num_steps"),
        ({"segment_end": "drop"}, "segment_end"),
        ({"baseline": False, "segment_end": "bootstrap"}, "segment_end"),
        ({"env_name": "CartPol-v1"}, "env_name"),
        ({"hidden_sizes": (0,)}, "hidden_sizes"),
        ({"total_timesteps": 100}, "total_timesteps"),
        ({"eval_every": -1}, "eval_every"),
        ({"baseline": 1}, "baseline"),
    ],
)
def test_reinforce_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=f"ReinforceConfig.{field}"):
        reinforce.ReinforceConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"advantage": "td"}, "advantage"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"n_step": 6}, "n_step"),
        ({"num_steps": 0}, "num_steps"),
        ({"activation": "cosine"}, "activation"),
        ({"total_timesteps": 10}, "total_timesteps"),
        ({"eval_every": 10**9}, "eval_every"),
    ],
)
def test_a2c_config_validation(kwargs, field):
    with pytest.raises(ValueError, match=f"A2CConfig.{field}"):
        a2c.A2CConfig(**kwargs)


def test_reinforce_segment_defaults_to_episode_limit():
    config = reinforce.ReinforceConfig(num_envs=2)
    assert config.segment_length == 500  # CartPole-v1's time limit
    assert config.steps_per_update == 1000


@pytest.mark.parametrize(
    ("module", "hparams", "field"),
    [
        (reinforce, reinforce.ReinforceHParams(gamma=1.5), "gamma"),
        (reinforce, reinforce.ReinforceHParams(learning_rate=0.0), "learning_rate"),
        (a2c, a2c.A2CHParams(rmsprop_decay=1.0), "rmsprop_decay"),
        (a2c, a2c.A2CHParams(ent_coef=-0.1), "ent_coef"),
    ],
)
def test_hparam_validation(module, hparams, field):
    with pytest.raises(ValueError, match=field):
        module.SPEC.validate_hparams(hparams)


def test_registered_with_defaults():
    assert {"reinforce", "a2c"} <= set(algorithms())
    for spec in (reinforce.SPEC, a2c.SPEC):
        for env_name in ("CartPole-v1", "Pendulum-v1"):
            config, hparams = spec.preset(env_name)
            assert isinstance(config, spec.config_cls) and isinstance(hparams, spec.hparams_cls)
            spec.validate_hparams(hparams)
            assert config.env_name == env_name


# --------------------------------------------------------------------------------------------------------
# Learning on probe environments (one compile per fixture, shared by the tests below)
# --------------------------------------------------------------------------------------------------------

NUM_SEEDS = 3
PROBE_NET = {"hidden_sizes": (16,), "eval_every": 25, "eval_episodes": 8}


def _policy(config, params, obs):
    """The trained policy's distribution at `obs` `[N, 1]` for every seed (leading `[S]` axis)."""
    env, _ = make(config.env_name)
    network = make_actor_critic(env.spec, config)
    return jax.vmap(lambda p: network.apply(p, obs, method=type(network).policy))(params)


@pytest.fixture(scope="module")
def keys():
    return jax.random.split(jax.random.key(42), NUM_SEEDS)


@pytest.fixture(scope="module")
def reinforce_discrete(keys):
    # Plain REINFORCE (no baseline, no normalisation) on the probe that needs an observation-dependent policy.
    config = reinforce.ReinforceConfig(
        env_name="Probe-ObsActionReward-v0",
        total_timesteps=32 * 100,
        num_envs=32,
        baseline=False,
        normalize_advantages=False,
        **PROBE_NET,
    )
    hparams = reinforce.ReinforceHParams(learning_rate=1e-2)
    train = reinforce.make_train(config)
    return config, hparams, train, jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, hparams)


@pytest.fixture(scope="module")
def a2c_discrete(keys):
    config = a2c.A2CConfig(
        env_name="Probe-ObsActionReward-v0",
        total_timesteps=16 * 2 * 100,
        num_envs=16,
        num_steps=2,
        **PROBE_NET,
    )
    hparams = a2c.A2CHParams(learning_rate=3e-3)
    train = a2c.make_train(config)
    return config, hparams, train, jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, hparams)


def _check_obs_dependent_policy(config, out):
    obs = jnp.array([[-1.0], [1.0]])
    pi = _policy(config, out.state.params, obs)
    probs = jax.nn.softmax(pi.logits, axis=-1)  # [S, 2 obs, 2 actions]
    # The right action is 0 for obs -1 and 1 for obs +1.
    assert np.all(np.asarray(probs[:, 0, 0]) > 0.9), probs
    assert np.all(np.asarray(probs[:, 1, 1]) > 0.9), probs
    np.testing.assert_allclose(out.metrics["eval_return"][:, -1], 1.0)


def test_reinforce_learns_obs_dependent_policy(reinforce_discrete):
    config, _, _, out = reinforce_discrete
    _check_obs_dependent_policy(config, out)
    np.testing.assert_allclose(out.metrics["valid_fraction"], 1.0)  # one-step episodes always finish


def test_a2c_learns_obs_dependent_policy(a2c_discrete):
    config, _, _, out = a2c_discrete
    _check_obs_dependent_policy(config, out)


@pytest.mark.parametrize(
    "algo",
    [
        # A learned baseline that also completes unfinished returns; A2C with n-step targets and Adam.
        "reinforce",
        "a2c",
    ],
)
def test_continuous_probe(algo, keys):
    if algo == "reinforce":
        config = reinforce.ReinforceConfig(
            env_name="Probe-ContinuousTarget-v0",
            total_timesteps=32 * 2 * 300,
            num_envs=32,
            num_steps=2,
            segment_end="bootstrap",
            **PROBE_NET,
        )
        hparams = reinforce.ReinforceHParams(learning_rate=3e-2)
        make_train = reinforce.make_train
    else:
        config = a2c.A2CConfig(
            env_name="Probe-ContinuousTarget-v0",
            total_timesteps=32 * 300,
            num_envs=32,
            num_steps=1,
            advantage="nstep",
            optimizer="adam",
            **PROBE_NET,
        )
        hparams = a2c.A2CHParams(learning_rate=3e-2)
        make_train = a2c.make_train
    out = jax.jit(jax.vmap(make_train(config), in_axes=(0, None)))(keys, hparams)
    obs = jnp.linspace(-0.8, 0.8, 5)[:, None]
    pi = _policy(config, out.state.params, obs)
    # The optimal deterministic action is the observation itself.
    np.testing.assert_allclose(pi.mean[..., 0], jnp.broadcast_to(obs[:, 0], pi.mean.shape[:-1]), atol=0.1)
    assert np.all(np.asarray(out.metrics["eval_return"][:, -1]) > -0.05)


# --------------------------------------------------------------------------------------------------------
# vmap equals the single-seed program; seeds are independent
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["reinforce_discrete", "a2c_discrete"])
def test_vmap_equals_single_seed(fixture, keys, request):
    _, hparams, train, out = request.getfixturevalue(fixture)
    single = jax.jit(train)(keys[1], hparams)
    chex.assert_trees_all_close(
        jax.tree.map(lambda x: x[1], (out.state.params, out.metrics)),
        (single.state.params, single.metrics),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("fixture", ["reinforce_discrete", "a2c_discrete"])
def test_seeds_differ(fixture, request):
    _, _, _, out = request.getfixturevalue(fixture)
    first = jax.tree.leaves(out.state.params)[0]
    for i in range(1, NUM_SEEDS):
        assert not np.allclose(first[0], first[i]), "two seeds produced identical parameters"
    assert not np.allclose(out.metrics["policy_loss"][0], out.metrics["policy_loss"][1])
