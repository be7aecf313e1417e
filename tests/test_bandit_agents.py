"""Bandit environments' options and regret, the shared bandit layer and each selection rule, hand-checked.

Rules are checked on hand-made statistics (plain NumPy arithmetic in the comments); the layer's update,
`per_episode` restarts and `act` on tiny compiled runs; learning on the default 10-arm problem and on
gymnax's meta-bandits with a few compiled programs shared through module-scoped fixtures.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from purerl import rollout
from purerl.agents import bandit, bandit_epsilon_greedy, gradient_bandit, thompson, ucb1
from purerl.agents.bandit import ArmStats
from purerl.envs import bandits, make


def stats_of(pulls: dict[int, list[float]], num_arms: int) -> ArmStats:
    """`ArmStats [K]` after the given rewards of each arm (built with `ArmStats.add`)."""
    stats = ArmStats.zeros((num_arms,))
    for arm, rewards in pulls.items():
        for reward in rewards:
            stats = stats.add(jnp.asarray(arm), jnp.asarray(reward))
    return stats


# --------------------------------------------------------------------------------------------------------
# Environments: regret info, the "random" problem option, the Gaussian bandit.
# --------------------------------------------------------------------------------------------------------


def test_bernoulli_regret_info():
    env, _ = bandits.make_bernoulli_bandit(num_arms=3, horizon=5)
    params = bandits.BernoulliBanditParams(jnp.asarray([0.2, 0.7, 0.5], jnp.float32))
    state, first = env.reset(jax.random.key(0), params)
    assert first.info["regret"].dtype == jnp.float32 and float(first.info["regret"]) == 0.0
    for action, regret in ((0, 0.5), (1, 0.0), (2, 0.2)):
        _, ts = env.step(jax.random.key(action), state, jnp.asarray(action), params)
        np.testing.assert_allclose(float(ts.info["regret"]), regret, rtol=1e-6)
        assert ts.info["regret"].shape == () and ts.info["regret"].dtype == jnp.float32


@pytest.mark.parametrize("factory", [bandits.make_bernoulli_bandit, bandits.make_gaussian_bandit])
def test_random_problem_is_drawn_at_reset_into_the_state(factory):
    env, params = factory(num_arms=4, horizon=2, problem="random")
    arms = jax.vmap(lambda k: env.reset(k, params)[0].inner.arms)(jax.random.split(jax.random.key(0), 3))
    assert arms.shape == (3, 4) and len(np.unique(np.asarray(arms))) == 12
    # Stepping reads the state's problem, not params: regret = max(arms) - arms[action].
    state, _ = env.reset(jax.random.key(1), params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    _, ts = env.step(jax.random.key(2), state, jnp.asarray(3), zeros)
    expected = float(state.inner.arms.max() - state.inner.arms[3])
    np.testing.assert_allclose(float(ts.info["regret"]), expected, rtol=1e-6)
    # Under auto-reset every episode (2 pulls) starts a fresh problem.
    train_env = rollout.training_env(env)
    state, _ = train_env.reset(jax.random.key(3), params)
    before = state.inner.inner.arms
    for t in range(2):
        state, _ = train_env.step(jax.random.key(4 + t), state, jnp.asarray(0), params)
    assert not np.array_equal(before, state.inner.inner.arms)


def test_random_problem_distributions():
    keys = jax.random.split(jax.random.key(0), 2000)
    for factory, low, high, mean, var in (
        (bandits.make_bernoulli_bandit, 0.0, 1.0, 0.5, 1 / 12),
        (bandits.make_gaussian_bandit, -np.inf, np.inf, 0.0, 1.0),
    ):
        env, params = factory(num_arms=5, problem="random")
        arms = np.asarray(
            jax.vmap(lambda k, env=env, params=params: env.reset(k, params)[0].inner.arms)(keys)
        )
        assert ((arms >= low) & (arms <= high)).all()
        # 10,000 draws: the standard error of the mean is sqrt(var / 1e4) <= 0.01.
        np.testing.assert_allclose(arms.mean(), mean, atol=0.04)
        np.testing.assert_allclose(arms.var(), var, rtol=0.05)


def test_gaussian_bandit_defaults_and_rewards():
    env, params = make("Bandit-Gaussian-v0")
    assert env.spec.name == "Bandit-Gaussian-v0" and env.spec.action_space.n == 10
    assert env.spec.max_episode_steps == 100
    np.testing.assert_allclose(params.means, np.linspace(-1, 1, 10), rtol=1e-6)
    state, _ = env.reset(jax.random.key(0), params)
    rewards = jax.vmap(lambda k: env.step(k, state, jnp.asarray(2), params)[1].reward)(
        jax.random.split(jax.random.key(1), 4000)
    )
    # N(means[2], 1) with means[2] = -1 + 2 * 2 / 9: 4,000 draws, standard error of the mean 0.016.
    np.testing.assert_allclose(float(rewards.mean()), -1 + 4 / 9, atol=0.06)
    np.testing.assert_allclose(float(rewards.std()), 1.0, atol=0.05)
    _, ts = env.step(jax.random.key(2), state, jnp.asarray(2), params)
    np.testing.assert_allclose(float(ts.info["regret"]), 1.0 - (-1 + 4 / 9), rtol=1e-6)


@pytest.mark.parametrize("factory", [bandits.make_bernoulli_bandit, bandits.make_gaussian_bandit])
def test_bandit_options_rejected_naming_the_field(factory):
    with pytest.raises(ValueError, match="problem"):
        factory(problem="sampled")
    with pytest.raises(ValueError, match="num_arms"):
        factory(num_arms=0)
    with pytest.raises(ValueError, match="horizon"):
        factory(horizon=0)


# --------------------------------------------------------------------------------------------------------
# The shared layer: statistics, tie-breaking, sampling.
# --------------------------------------------------------------------------------------------------------


def test_arm_statistics_update():
    stats = stats_of({0: [1.0, 3.0], 2: [-2.0]}, 3)
    np.testing.assert_array_equal(stats.counts, [2, 0, 1])
    np.testing.assert_allclose(stats.sums, [4.0, 0.0, -2.0])
    np.testing.assert_allclose(stats.sums_sq, [10.0, 0.0, 4.0])
    np.testing.assert_allclose(stats.means(), [2.0, 0.0, -2.0])  # an unpulled arm's estimate is 0
    np.testing.assert_allclose(stats.variances(), [1.0, 0.0, 0.0])  # 10 / 2 - 2^2
    assert int(stats.pulls()[0]) == 3
    # Batched: one pull per row, and pooling sums the rows.
    batch = ArmStats.zeros((2, 3)).add(jnp.asarray([1, 1]), jnp.asarray([0.5, 1.5]))
    np.testing.assert_array_equal(batch.counts, [[0, 1, 0], [0, 1, 0]])
    pooled = batch.pooled()
    np.testing.assert_array_equal(pooled.counts, [0, 2, 0])
    np.testing.assert_allclose(pooled.means(), [0.0, 1.0, 0.0])
    assert stats.counts.dtype == jnp.int32 and stats.sums.dtype == jnp.float32


def test_argmax_random_ties_and_sample_index():
    keys = jax.random.split(jax.random.key(0), 4000)
    picks = np.asarray(
        jax.vmap(bandit.argmax_random_ties, (0, None))(keys, jnp.asarray([1.0, 3.0, 3.0, 2.0]))
    )
    counts = np.bincount(picks, minlength=4)
    assert counts[0] == counts[3] == 0
    np.testing.assert_allclose(counts[1:3] / 4000, 0.5, atol=0.04)
    # Unpulled arms (+inf indices) tie among themselves.
    inf_picks = jax.vmap(bandit.argmax_random_ties, (0, None))(
        keys[:200], jnp.asarray([jnp.inf, 0.0, jnp.inf])
    )
    assert set(np.unique(np.asarray(inf_picks)).tolist()) == {0, 2}
    weights = jnp.asarray([0.0, 1.0, 0.0, 3.0])
    draws = np.asarray(jax.vmap(bandit.sample_index, (0, None))(keys, weights))
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 4000, [0.0, 0.25, 0.0, 0.75], atol=0.03)


# --------------------------------------------------------------------------------------------------------
# Selection rules, hand-checked.
# --------------------------------------------------------------------------------------------------------


def test_ucb1_indices_by_hand():
    stats = ArmStats(jnp.asarray([2, 1, 3]), jnp.asarray([1.0, 1.0, 0.0]), jnp.zeros(3))
    # t = 6 pulls, c = 2: mean + sqrt(2 ln 6 / n) = 0.5 + sqrt(1.791759), 1 + sqrt(3.583519), sqrt(1.194506).
    expected = [0.5 + 1.338566, 1.0 + 1.893019, 0.0 + 1.092935]
    np.testing.assert_allclose(ucb1.ucb_indices(stats, 2.0), expected, rtol=1e-5)
    rule = ucb1.make_rule(ucb1.UCB1Config())
    assert int(rule.select(jax.random.key(0), stats, (), ucb1.UCB1HParams())) == 1
    np.testing.assert_allclose(ucb1.ucb_indices(stats, 0.1)[2], math.sqrt(0.1 * math.log(6) / 3), rtol=1e-5)
    # An arm never pulled comes first.
    fresh = ArmStats(jnp.asarray([2, 0, 3]), jnp.asarray([2.0, 0.0, 3.0]), jnp.zeros(3))
    assert np.isinf(ucb1.ucb_indices(fresh, 2.0)[1])
    assert int(rule.select(jax.random.key(0), fresh, (), ucb1.UCB1HParams())) == 1


def test_thompson_beta_posterior_by_hand():
    stats = stats_of({0: [1.0, 0.0, 1.0], 1: [0.0]}, 3)
    alpha, beta = thompson.beta_posterior(stats, thompson.ThompsonHParams())
    np.testing.assert_allclose(alpha, [3.0, 1.0, 1.0])  # 1 + successes
    np.testing.assert_allclose(beta, [2.0, 2.0, 1.0])  # 1 + failures
    alpha, beta = thompson.beta_posterior(stats, thompson.ThompsonHParams(alpha0=2.0, beta0=0.5))
    np.testing.assert_allclose(alpha, [4.0, 2.0, 2.0])
    np.testing.assert_allclose(beta, [1.5, 1.5, 0.5])
    # Rewards outside [0, 1] are clipped into a valid pseudo-count (a -1 arm reads as failures).
    alpha, beta = thompson.beta_posterior(stats_of({0: [-1.0, -1.0]}, 1), thompson.ThompsonHParams())
    np.testing.assert_allclose([float(alpha[0]), float(beta[0])], [1.0, 3.0])


def test_thompson_gaussian_posterior_by_hand():
    stats = stats_of({0: [0.5, 1.0, 0.0]}, 2)  # n = 3, sum 1.5
    mean, std = thompson.gaussian_posterior(stats, thompson.ThompsonHParams())
    # precision 1 + 3 = 4: mean 1.5 / 4, std 1 / 2; the unpulled arm keeps the N(0, 1) prior.
    np.testing.assert_allclose(mean, [0.375, 0.0], rtol=1e-6)
    np.testing.assert_allclose(std, [0.5, 1.0], rtol=1e-6)
    hparams = thompson.ThompsonHParams(mu0=1.0, sigma0=2.0, noise_std=0.5)
    mean, std = thompson.gaussian_posterior(stats, hparams)
    # precision 1/4 + 3 * 4 = 12.25; mean (1/4 * 1 + 4 * 1.5) / 12.25 = 6.25 / 12.25; std 1 / 3.5.
    np.testing.assert_allclose(mean, [6.25 / 12.25, 1.0], rtol=1e-6)
    np.testing.assert_allclose(std, [1 / 3.5, 2.0], rtol=1e-6)


@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 1.0), (0.3, 2.5), (7.0, 2.0), (40.0, 900.0)])
def test_beta_sampler_matches_the_beta_distribution(alpha, beta):
    draws = jax.jit(thompson.sample_beta)(
        jax.random.key(0), jnp.full((20_000,), alpha), jnp.full((20_000,), beta)
    )
    draws = np.asarray(draws)
    assert ((draws >= 0) & (draws <= 1)).all()
    # Kolmogorov-Smirnov against scipy's Beta: with 20,000 draws a real mismatch gives p ~ 0.
    assert scipy.stats.kstest(draws, scipy.stats.beta(alpha, beta).cdf).pvalue > 1e-3


def test_thompson_samples_the_posterior():
    """Two arms with posteriors Beta(3, 2) and Beta(1, 2): arm 0 is pulled w.p. P(X > Y)."""
    stats = stats_of({0: [1.0, 0.0, 1.0], 1: [0.0]}, 2)
    rule = thompson.make_rule(thompson.ThompsonConfig())
    batch = jax.tree.map(lambda x: jnp.broadcast_to(x, (4000, *x.shape)), stats)
    picks = np.asarray(rule.select(jax.random.key(0), batch, (), thompson.ThompsonHParams()))
    # P(Y < x) = 1 - (1 - x)^2, so P(X > Y) = 1 - E[(1 - X)^2] with 1 - X ~ Beta(2, 3):
    # E[Z^2] = var + mean^2 = 6 / (25 * 6) + (2 / 5)^2 = 0.2, so P(X > Y) = 0.8.
    np.testing.assert_allclose(np.mean(picks == 0), 0.8, atol=0.02)


def test_gradient_bandit_preference_update_by_hand():
    # H = 0 (pi = 1/3 each), arm 1 pays 1, baseline 0.5, alpha 0.1: H += 0.05 * (onehot - 1/3).
    updated = gradient_bandit.preference_update(
        jnp.zeros(3), jnp.asarray(1), jnp.asarray(1.0), jnp.asarray(0.5), 0.1
    )
    np.testing.assert_allclose(updated, [-0.05 / 3, 0.1 / 3, -0.05 / 3], rtol=1e-6)
    rule = gradient_bandit.make_rule(gradient_bandit.GradientBanditConfig())
    hparams = gradient_bandit.GradientBanditHParams(step_size=0.1)
    # The baseline is the average of the earlier rewards (0 and 1 -> 0.5) ...
    before = stats_of({0: [0.0], 2: [1.0]}, 3)
    learned = rule.learn(rule.init(3), before, jnp.asarray(1), jnp.asarray(1.0), hparams)
    np.testing.assert_allclose(learned, updated, rtol=1e-6)
    # ... and at the first pull the reward itself, so the first update changes nothing.
    first = rule.learn(rule.init(3), ArmStats.zeros((3,)), jnp.asarray(1), jnp.asarray(1.0), hparams)
    np.testing.assert_array_equal(first, np.zeros(3))
    no_baseline = gradient_bandit.make_rule(gradient_bandit.GradientBanditConfig(baseline=False))
    plain = no_baseline.learn(jnp.zeros(3), before, jnp.asarray(1), jnp.asarray(1.0), hparams)
    np.testing.assert_allclose(plain, [-0.1 / 3, 0.2 / 3, -0.1 / 3], rtol=1e-6)
    # Selection follows softmax(H): preferences ln 1, ln 3 give probabilities 1/4, 3/4.
    preferences = jnp.broadcast_to(jnp.log(jnp.asarray([1.0, 3.0])), (4000, 2))
    picks = rule.select(jax.random.key(0), ArmStats.zeros((4000, 2)), preferences, hparams)
    np.testing.assert_allclose(np.mean(np.asarray(picks) == 1), 0.75, atol=0.03)


def test_epsilon_schedules():
    hparams = bandit_epsilon_greedy.EpsilonGreedyHParams(epsilon=0.1, c=50.0)
    t = jnp.asarray([1, 50, 100, 1000])
    fixed = bandit_epsilon_greedy.EpsilonGreedyConfig(schedule="fixed")
    decay = bandit_epsilon_greedy.EpsilonGreedyConfig(schedule="decay")
    np.testing.assert_allclose(
        bandit_epsilon_greedy.exploration_rate(fixed, hparams, t), [0.1] * 4, rtol=1e-6
    )
    np.testing.assert_allclose(
        bandit_epsilon_greedy.exploration_rate(decay, hparams, t), [1.0, 1.0, 0.5, 0.05]
    )
    # After 99 pulls (t = 100, epsilon 0.5) the greedy arm 2 is chosen w.p. 1 - 0.5 + 0.5 / 4.
    stats = ArmStats(jnp.asarray([30, 30, 30, 9]), jnp.asarray([3.0, 6.0, 27.0, 0.0]), jnp.zeros(4))
    batch = jax.tree.map(lambda x: jnp.broadcast_to(x, (4000, 4)), stats)
    picks = bandit_epsilon_greedy.make_rule(decay).select(jax.random.key(0), batch, (), hparams)
    np.testing.assert_allclose(np.mean(np.asarray(picks) == 2), 0.625, atol=0.03)


# --------------------------------------------------------------------------------------------------------
# The layer's update, per-episode restarts and act, on tiny compiled runs.
# --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=[False, True], ids=["persist", "per_episode"])
def short_episodes(request):
    """Gradient bandit on a 3-pull Bernoulli episode, 2 instances: states after each of 4 updates."""
    config = gradient_bandit.GradientBanditConfig(
        env_kwargs={"horizon": 3}, num_envs=2, total_timesteps=8, per_episode=request.param
    )
    agent = gradient_bandit.SPEC.make_agent(config)
    hparams = gradient_bandit.GradientBanditHParams()
    states = []
    state = agent.init(jax.random.key(0), hparams)
    update = jax.jit(lambda k, s: agent.update(k, s, hparams))
    for t in range(4):
        state, metrics = update(jax.random.key(t + 1), state)
        states.append((state, metrics))
    return request.param, states, agent


def test_statistics_persist_or_restart_at_episode_ends(short_episodes):
    per_episode, states, _ = short_episodes
    pulls = [np.asarray(s.stats.counts.sum(-1)) for s, _ in states]
    if per_episode:
        # The third pull ends the episode: statistics and preferences restart, the fourth pull counts 1.
        np.testing.assert_array_equal(pulls, [[1, 1], [2, 2], [0, 0], [1, 1]])
        np.testing.assert_array_equal(states[2][0].own, np.zeros((2, 10)))
        np.testing.assert_array_equal(states[2][0].stats.sums, np.zeros((2, 10)))
    else:
        np.testing.assert_array_equal(pulls, [[1, 1], [2, 2], [3, 3], [4, 4]])
    for state, metrics in states:
        assert state.stats.counts.shape == (2, 10) and state.own.shape == (2, 10)
        assert {"reward", "regret", "episode_return", "episode_length", "episodes"} <= set(metrics)
    # Episode metrics report the 3-pull episodes that ended at the third update.
    np.testing.assert_array_equal([float(m["episodes"]) for _, m in states], [0, 0, 2, 0])
    np.testing.assert_allclose(float(states[2][1]["episode_length"]), 3.0)


def test_metrics_regret_is_the_mean_pseudo_regret(short_episodes):
    _, states, _ = short_episodes
    # Regret of a pull on the default problem is 0.9 - p_arm, a multiple of 0.8 / 9, in [0, 0.8].
    for _, metrics in states:
        regret = float(metrics["regret"])
        assert 0.0 <= regret <= 0.8 + 1e-6
        np.testing.assert_allclose(regret * 2 * 9 / 0.8, round(regret * 2 * 9 / 0.8), atol=1e-4)


def test_act_is_the_greedy_arm_of_the_pooled_statistics(short_episodes):
    _, states, agent = short_episodes
    state = states[-1][0]
    # Instance 0 saw arm 2 pay once; instance 1 saw arm 0 pay 9 of 10 and arm 2 pay 0 of 10: pooled,
    # arm 0 (0.9) beats arm 2 (1 / 11), though instance 0 alone would pick arm 2.
    counts = jnp.zeros((2, 10), jnp.int32).at[0, 2].set(1).at[1, 0].set(10).at[1, 2].set(10)
    sums = jnp.zeros((2, 10)).at[0, 2].set(1.0).at[1, 0].set(9.0)
    state = state._replace(stats=ArmStats(counts, sums, sums))
    action = agent.act(jax.random.key(0), state, jnp.ones((5, 1)))
    np.testing.assert_array_equal(action, [0] * 5)


# --------------------------------------------------------------------------------------------------------
# Learning.
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [ucb1, thompson], ids=["ucb1", "thompson"])
def test_finds_the_best_arm_of_the_default_problem(module):
    """8 seeds x 2 instances x 3,000 pulls of the default 10-arm problem (best arm 9, gap 0.089)."""
    config = module.SPEC.config_cls(
        env_kwargs={"horizon": 3000}, num_envs=2, total_timesteps=6000, eval_every=3000, eval_max_steps=1
    )
    train = jax.jit(jax.vmap(module.SPEC.make_train(config), in_axes=(0, None)))
    out = train(jax.random.split(jax.random.key(0), 8), module.SPEC.hparams_cls())
    most_pulled = np.asarray(out.state.stats.counts).argmax(-1)  # [seed, instance]
    assert np.mean(most_pulled == 9) >= 0.75, most_pulled
    act = module.SPEC.make_agent(config).act
    greedy = jax.vmap(lambda state: act(jax.random.key(0), state, jnp.ones((1, 1)))[0])(out.state)
    assert np.mean(np.asarray(greedy) == 9) >= 0.75, greedy
    # Regret per pull falls: the last 500 pulls' mean regret is under a third of the first 500's.
    regret = np.asarray(out.metrics["regret"]).reshape(8, -1)
    assert regret[:, -500:].mean() < regret[:, :500].mean() / 3
    # The metric adds up to the pulls' gaps: sum_t regret_t = mean over instances of sum_a n_a (p* - p_a).
    gaps = 0.9 - np.linspace(0.1, 0.9, 10)
    from_counts = (np.asarray(out.state.stats.counts) * gaps).sum(-1).mean(-1)
    np.testing.assert_allclose(regret.sum(1), from_counts, rtol=1e-4)


@pytest.mark.parametrize(
    ("env_name", "module", "config_extra", "hparams", "floor"),
    [
        # Two arms paying w.p. 0.1 / 0.9, swapped at random each episode: random play earns 50 per
        # 100-pull episode, the best arm 90.
        ("BernoulliBandit-misc", ucb1, {}, ucb1.UCB1HParams(c=0.5), 70.0),
        # Arm 0 pays 0, arm 1 N(mu, 0.1^2) with mu ~ N(-1, 1) per episode: random play earns -50.
        (
            "GaussianBandit-misc",
            thompson,
            {"posterior": "gaussian"},
            thompson.ThompsonHParams(mu0=-1.0, sigma0=1.0, noise_std=0.1),
            -5.0,
        ),
    ],
    ids=["bernoulli-misc", "gaussian-misc"],
)
def test_meta_bandits_from_gymnax(env_name, module, config_extra, hparams, floor):
    """`per_episode=True` on gymnax's meta-bandits: each episode is a new problem, learned within it."""
    config = module.SPEC.config_cls(
        env_name=env_name,
        num_envs=8,
        total_timesteps=8 * 1000,
        per_episode=True,
        eval_every=1000,
        eval_max_steps=1,
        **config_extra,
    )
    out = jax.jit(module.SPEC.make_train(config))(jax.random.key(0), hparams)
    assert "regret" not in out.metrics  # gymnax reports no regret
    episodes = np.asarray(out.metrics["episodes"]).ravel()
    returns = np.asarray(out.metrics["episode_return"]).ravel()[episodes > 0]
    assert episodes.sum() == 8 * 10 and returns.mean() > floor, returns.mean()
