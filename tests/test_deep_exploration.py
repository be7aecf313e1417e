"""DeepSea against bsuite's definition, per-seed env params, bsuite's scoring on hand-made logs, and the
pieces of bootstrapped DQN (head resampling, bootstrap masks, priors)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl import bsuite, rollout
from purerl.agents import bootstrapped_dqn, dqn
from purerl.envs import make
from purerl.envs.deep_sea import DeepSeaParams
from purerl.loop import split_run_key
from purerl.types import Transition


def play(size: int, params: DeepSeaParams, moves_right: list[bool]):
    """Step DeepSea with 'right'/'left' moves (translated through the mapping); returns the time steps."""
    env, _ = make("DeepSea-v0", size=size)
    state, ts = env.reset(jax.random.key(0), params)
    steps = [ts]
    for right in moves_right:
        cell = params.action_right[jnp.minimum(state.row, size - 1), state.column]
        action = jnp.where(right, cell, 1 - cell)
        state, ts = env.step(jax.random.key(0), state, action, params)
        steps.append(ts)
    return state, steps


@pytest.mark.parametrize("size", [1, 3, 6])
def test_optimal_path_pays_one_minus_the_move_cost(size):
    params = make("DeepSea-v0", size=size)[1]
    state, steps = play(size, params, [True] * size)
    assert float(sum(ts.reward for ts in steps)) == pytest.approx(0.99, abs=1e-6)
    assert [bool(ts.terminated) for ts in steps] == [False] * size + [True]
    assert not any(bool(ts.truncated) for ts in steps)
    assert (
        float(steps[-1].info["event_treasure"]) == 1.0 and float(steps[-1].info["event_bad_episode"]) == 0.0
    )
    assert float(steps[-1].obs.sum()) == 0.0  # bsuite's null observation after the last row
    assert int(state.column) == size - 1


def test_one_left_move_on_the_diagonal_makes_the_episode_bad_and_unrewarded():
    size = 5
    params = make("DeepSea-v0", size=size)[1]
    _, steps = play(size, params, [True, True, False, True, True])
    rewards = np.array([float(ts.reward) for ts in steps[1:]])
    np.testing.assert_allclose(rewards, -0.01 / size * np.array([1, 1, 0, 1, 1]), atol=1e-7)
    assert float(steps[-1].info["event_bad_episode"]) == 1.0
    assert sum(float(ts.info["event_treasure"]) for ts in steps) == 0.0
    # Off the diagonal, a left move is not "bad" by bsuite's definition; a wall clips the column at 0.
    _, steps = play(size, params, [False, False, True, False, False])
    assert float(steps[-1].info["event_bad_episode"]) == 1.0  # the first move left was on the diagonal


def test_observation_is_the_one_hot_position():
    size = 4
    params = make("DeepSea-v0", size=size)[1]
    _, steps = play(size, params, [True, False, True])
    positions = [np.argwhere(np.asarray(ts.obs)) for ts in steps]
    assert [p.tolist() for p in positions] == [[[0, 0]], [[1, 1]], [[2, 0]], [[3, 1]]]


def test_mappings_are_balanced_and_sampled_ones_differ():
    default = np.asarray(make("DeepSea-v0", size=30)[1].action_right)
    assert 0.4 < default.mean() < 0.6
    from purerl.envs.deep_sea import sample_params

    a, b = (np.asarray(sample_params(jax.random.key(s), 30).action_right) for s in (0, 1))
    assert a.shape == (30, 30) and not np.array_equal(a, b)


def test_sampled_env_params_are_per_seed_and_kept_through_training():
    config = dqn.DQNConfig(
        env_name="DeepSea-v0",
        env_kwargs={"size": 4},
        env_params="sampled",
        total_timesteps=64,
        num_envs=2,
        num_steps=4,
        gradient_steps=1,
        batch_size=8,
        buffer_size=64,
        learning_starts=8,
        hidden_sizes=(8,),
        eval_every=2,
        eval_episodes=2,
    )
    train = jax.jit(jax.vmap(dqn.make_train(config), in_axes=(0, None)))
    out = train(jax.random.split(jax.random.key(0), 3), dqn.DQNHParams())
    mappings = np.asarray(out.state.env_params.action_right)
    assert mappings.shape == (3, 4, 4)
    assert not np.array_equal(mappings[0], mappings[1])
    assert np.isfinite(np.asarray(out.metrics["eval_return"])).all()
    # Every episode is exactly `size` steps, and the per-rollout event counts are summed.
    assert np.asarray(out.metrics["episodes"]).sum() == 3 * 64 / 4
    assert set(out.metrics) >= {"event_treasure", "event_bad_episode"}


def test_sampled_params_need_a_sampler():
    with pytest.raises(ValueError, match="env_params='sampled' needs an env with a params sampler"):
        dqn.DQNConfig(env_name="CartPole-v1", env_params="sampled")


def test_episode_metrics_sum_event_counts():
    info = {
        "episode_done": jnp.array([[True, False], [True, True]]),
        "episode_return": jnp.array([[1.0, 0.0], [3.0, 5.0]]),
        "episode_length": jnp.array([[2, 0], [4, 6]]),
        "event_treasure": jnp.array([[1.0, 0.0], [0.0, 1.0]]),
    }
    metrics = rollout.episode_metrics(info)
    assert float(metrics["episode_return"]) == pytest.approx(3.0)
    assert float(metrics["episodes"]) == 3.0 and float(metrics["event_treasure"]) == 2.0


# ---------------------------------------------------------------------------------------------------
# bsuite scoring on hand-made logs


def test_solve_episode_is_the_first_with_bad_fraction_below_threshold():
    # Running bad fractions: 1, 1, 1, 1, 4/5 = 0.8 (not below), 4/6 < 0.8 -> solved at episode 6.
    bad = np.array([1, 1, 1, 1, 0, 0, 1, 1])
    solution = bsuite.find_solution(bad)
    assert bool(solution.solved) and int(solution.episode) == 6
    never = bsuite.find_solution(np.ones(50))
    assert not bool(never.solved) and int(never.episode) == 50
    # The budget cuts the log: solved only after episode 6, so not within 5 episodes.
    assert not bool(bsuite.find_solution(bad, num_episodes=5).solved)
    # A good first episode is already below the threshold.
    assert int(bsuite.find_solution(np.array([0, 1, 1])).episode) == 1


def test_beating_dithering_needs_solving_before_two_to_the_n_plus_forgiveness():
    solution = bsuite.Solution(np.array([True, True, False]), np.array([131, 132, 10]))
    np.testing.assert_array_equal(
        bsuite.beats_dithering(solution, 5), [True, False, False]
    )  # 2^5 + 100 = 132


def test_score_is_the_fraction_of_sizes_beaten_per_seed():
    quick = np.r_[np.zeros(3), np.ones(397)]  # solved at episode 1
    slow = np.r_[np.ones(200), np.zeros(200)]  # 200 / e < 0.8 from e = 251
    logs = {4: np.stack([quick, slow]), 10: np.stack([slow, np.ones(400)])}
    # Seed 0: size 4 (episode 1 < 116), size 10 (251 < 1124); seed 1: size 4 late (251), 10 unsolved.
    np.testing.assert_allclose(bsuite.deep_sea_score(logs), [1.0, 0.0])


def test_episode_flags_expand_per_update_counts_in_the_conservative_order():
    episodes = np.array([[2, 0, 3], [1, 1, 1]])
    events = np.array([[1, 0, 2], [0, 1, 0]])
    last = bsuite.episode_flags(episodes, events, flagged_first=False)
    np.testing.assert_array_equal(last[0], [0, 1, 0, 1, 1])
    np.testing.assert_array_equal(last[1, :3], [0, 1, 0])
    assert np.isnan(last[1, 3:]).all()
    first = bsuite.episode_flags(episodes, events, flagged_first=True)
    np.testing.assert_array_equal(first[0], [1, 0, 1, 1, 0])
    # Bad episodes first never solves earlier: one good and four bad episodes in one update.
    bad_first = bsuite.episode_flags(np.array([5]), np.array([4]), flagged_first=True)
    bad_last = bsuite.episode_flags(np.array([5]), np.array([4]), flagged_first=False)
    assert not bsuite.find_solution(bad_first).solved and int(bsuite.find_solution(bad_last).episode) == 1


# ---------------------------------------------------------------------------------------------------
# Bootstrapped DQN


@pytest.fixture(scope="module")
def boot():
    config = bootstrapped_dqn.BootstrappedDQNConfig(
        env_name="DeepSea-v0",
        env_kwargs={"size": 3},
        total_timesteps=60,
        num_envs=2,
        num_heads=4,
        batch_size=8,
        buffer_size=64,
        learning_starts=8,
        hidden_sizes=(8,),
        eval_every=5,
        eval_episodes=2,
    )
    env, params = make("DeepSea-v0", size=3)
    algo = bootstrapped_dqn.build(config, env, params)
    return config, algo


def test_heads_are_resampled_only_where_an_episode_ended(boot):
    config, algo = boot
    hp = bootstrapped_dqn.BootstrappedDQNHParams(mask_prob=0.5)
    state = algo.init(jax.random.key(0), hp)
    ls = state.learner
    assert jax.tree.leaves(ls.params)[0].shape[0] == 4 and ls.heads.shape == (2,)
    obs = jnp.zeros((1, 2, 3, 3))
    flags = jnp.array([[False, False]])
    traj = Transition(obs, jnp.zeros((1, 2), jnp.int32), jnp.zeros((1, 2)), flags, flags, obs, {})
    observe = _observe_of(config)
    same, extras = observe(jax.random.key(1), ls, traj, hp)
    np.testing.assert_array_equal(same.heads, ls.heads)
    assert extras["mask"].shape == (1, 2, 4)
    masks = observe(jax.random.key(2), ls, traj._replace(reward=jnp.zeros((500, 2))), hp)[1]["mask"]
    assert 0.4 < float(masks.mean()) < 0.6
    ended = traj._replace(terminated=jnp.array([[False, True]]))
    heads = np.stack([np.asarray(observe(jax.random.key(k), ls, ended, hp)[0].heads) for k in range(20)])
    assert (heads[:, 0] == int(ls.heads[0])).all() and len(set(heads[:, 1])) > 1


def _observe_of(config):
    """The `observe` function bootstrapped DQN hands to the off-policy loop."""
    captured = {}
    original = bootstrapped_dqn.make_off_policy_algorithm

    def capture(config, env, env_params, learner):
        captured["learner"] = learner
        return original(config, env, env_params, learner)

    bootstrapped_dqn.make_off_policy_algorithm = capture
    try:
        bootstrapped_dqn.build(config, *make("DeepSea-v0", size=3))
    finally:
        bootstrapped_dqn.make_off_policy_algorithm = original
    return captured["learner"].observe


def test_priors_stay_fixed_and_masks_stop_learning(boot):
    config, algo = boot
    hp = bootstrapped_dqn.BootstrappedDQNHParams()
    train = jax.jit(bootstrapped_dqn.make_train(config))
    key = jax.random.key(0)
    start = algo.init(split_run_key(key)[0], hp).learner
    trained = train(key, hp).state.learner
    leaves = jax.tree.leaves
    for before, after in zip(leaves(start.prior_params), leaves(trained.prior_params), strict=True):
        np.testing.assert_array_equal(before, after)
    assert any(
        not np.array_equal(a, b) for a, b in zip(leaves(start.params), leaves(trained.params), strict=True)
    )
    # mask_prob ~ 0: every transition is masked out for every head, so no head moves.
    frozen = train(key, hp._replace(mask_prob=1e-30)).state.learner
    for before, after in zip(leaves(start.params), leaves(frozen.params), strict=True):
        np.testing.assert_array_equal(before, after)


# ---------------------------------------------------------------------------------------------------
# Random network distillation


def test_rnd_bonus_is_the_squared_prediction_error_and_learning_lowers_it():
    from purerl.exploration import make_rnd

    rnd = make_rnd(_Options(), 1, 1e-2, 10.0)
    obs = jnp.eye(6)[None].repeat(3, 0).reshape(18, 6)
    state = rnd.init(jax.random.key(0), obs)
    pred = rnd.network.apply(state.predictor, obs)
    target = rnd.network.apply(state.target, obs)
    np.testing.assert_allclose(rnd.bonus(state, obs), ((pred - target) ** 2).sum(-1), rtol=1e-6)
    assert float(rnd.bonus(state._replace(predictor=state.target), obs).max()) == 0.0
    before = float(rnd.bonus(state, obs).mean())
    for _ in range(50):
        state, _ = rnd.learn(state, obs)
    assert float(rnd.bonus(state, obs).mean()) < 0.5 * before
    scaled, stats_state = rnd.intrinsic_reward(state, obs)
    raw = rnd.bonus(state, obs)
    np.testing.assert_allclose(scaled, raw / np.sqrt(stats_state.bonus_stats.var + 1e-8), rtol=1e-5)


class _Options:
    hidden_sizes = (16,)
    rnd_features = 4


@pytest.mark.parametrize("algo", ["ppo", "pqn"])
def test_rnd_runs_inside_ppo_and_pqn(algo):
    from purerl.agents import get_algorithm

    spec = get_algorithm(algo)
    config = spec.config_cls(
        env_name="DeepSea-v0",
        env_kwargs={"size": 4},
        rnd=True,
        num_envs=2,
        num_steps=4,
        num_minibatches=1,
        num_epochs=1,
        hidden_sizes=(8,),
        total_timesteps=64,
        eval_every=2,
        eval_episodes=2,
    )
    out = jax.jit(spec.make_train(config))(jax.random.key(0), spec.hparams_cls())
    bonus = np.asarray(out.metrics["intrinsic_reward"])
    assert np.isfinite(bonus).all() and (bonus > 0).all()
    assert out.state.rnd is not None and bool(out.metrics["healthy"].all())
