"""Imitation and bootstrapping: demonstrations, teachers, behaviour cloning, PPO from given params.

Compiled programs are shared through module-scoped fixtures with tiny configs (a length-3 combination
lock, 16-unit networks) so the whole module compiles one BC run and two PPO runs.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl import demonstrations, envs, runner, teachers
from purerl.agents import bc, ppo
from purerl.agents.bootstrap import actor_params, load_actor
from purerl.networks import ActorCritic

LOCK = "CombinationLock-v0"
LOCK_KWARGS = (("length", 3),)
HIDDEN = (16,)


# ----------------------------------------------------------------------------------------------------
# Demonstrations


def _reference_episode_returns(reward: np.ndarray, done: np.ndarray) -> np.ndarray:
    """NumPy loop: each step gets the summed reward of its episode; NaN while unfinished. [T, B]."""
    out = np.full(reward.shape, np.nan)
    for b in range(reward.shape[1]):
        start, total = 0, 0.0
        for t in range(reward.shape[0]):
            total += reward[t, b]
            if done[t, b]:
                out[start : t + 1, b] = total
                start, total = t + 1, 0.0
    return out


def test_collected_episode_returns_are_the_summed_env_rewards():
    # CartPole with a random policy: +1 per step and episodes of varied lengths, several per instance.
    env, params = envs.make("CartPole-v1")
    act = lambda key, obs: (jax.random.randint(key, (), 0, 2), {})
    demos = jax.jit(lambda k: demonstrations.collect(k, env, params, act, 4, 120))(jax.random.key(0))
    reward, done = np.asarray(demos.reward), np.asarray(demos.episode_done)
    assert demos.obs.shape == (120, 4, 4) and demos.action.shape == (120, 4)
    assert done.sum(axis=0).min() >= 2, "want several episodes per instance"
    np.testing.assert_array_equal(np.asarray(demos.episode_return), _reference_episode_returns(reward, done))
    assert not np.asarray(demos.terminated & demos.truncated).any()
    # Episode numbering and the unbiased first-episode summary agree with the per-step data.
    index = np.asarray(demos.episode_index)
    np.testing.assert_array_equal(index, np.cumsum(done, axis=0) - done)
    first = demonstrations.first_episodes(demos)
    for b in range(4):
        end = int(np.argmax(done[:, b]))
        assert first.episode_return[b] == reward[: end + 1, b].sum() == end + 1
        assert bool(first.terminated[b]) == bool(demos.terminated[end, b])
        assert int(first.length[b]) == end + 1
    assert bool(first.finished.all())


def test_lapse_free_lock_teacher_always_opens_the_lock_and_lapses_hurt():
    env, params = envs.make(LOCK, length=4)
    for lapse, expected in ((0.0, 1.0), (1.0, None)):
        teacher = teachers.make_teacher(LOCK, params, env.spec, lapse=lapse)
        summary = jax.jit(lambda k, t=teacher: demonstrations.evaluate_episodes(k, env, params, t, 64))(
            jax.random.key(1)
        )
        rate = float(summary.terminated.mean())
        if expected is not None:
            assert rate == expected
            np.testing.assert_array_equal(np.asarray(summary.length), 4)  # opened in exactly L steps
        else:
            assert rate < 0.5  # a uniformly random button presser (4**-4 per attempt)


def test_mountain_car_teacher_without_flaws_reaches_the_goal():
    env, params = envs.make("MountainCar-v0")
    teacher = teachers.make_teacher("MountainCar-v0", params, env.spec, lapse=0.0, dead_zone=0.0)
    summary = jax.jit(lambda k: demonstrations.evaluate_episodes(k, env, params, teacher, 32))(
        jax.random.key(2)
    )
    assert bool(summary.terminated.all())


def test_unknown_teacher_and_bad_lapse_raise():
    env, params = envs.make("CartPole-v1")
    with pytest.raises(ValueError, match="teacher environment"):
        teachers.make_teacher("CartPole-v1", params, env.spec)
    with pytest.raises(ValueError, match="lapse"):
        teachers.mountain_car(lapse=1.5)


# ----------------------------------------------------------------------------------------------------
# Behaviour cloning (one compiled run, through the runner's `init_args`)


@pytest.fixture(scope="module")
def lock_demos():
    """Per-seed demonstrations of a lapse-free (deterministic) lock teacher: [S=2, T, B]."""
    env, params = envs.make(LOCK, **dict(LOCK_KWARGS))
    teacher = teachers.make_teacher(LOCK, params, env.spec, lapse=0.0)
    collect = jax.vmap(lambda k: demonstrations.collect(k, env, params, teacher, 4, 12))
    return jax.jit(collect)(jax.random.split(jax.random.key(3), 2))


@pytest.fixture(scope="module")
def bc_config():
    return bc.BCConfig(
        env_name=LOCK,
        env_kwargs=dict(LOCK_KWARGS),
        num_updates=150,
        batch_size=32,
        hidden_sizes=HIDDEN,
        eval_every=75,
        eval_episodes=4,
    )


@pytest.fixture(scope="module")
def bc_run(bc_config, lock_demos):
    return runner.run(bc_config, bc.BCHParams(learning_rate=1e-2), 2, progress=False, init_args=(lock_demos,))


def test_bc_recovers_a_deterministic_teacher(bc_config, bc_run, lock_demos):
    # Accuracy on every demonstrated state, with the greedy (mode) policy of each seed.
    act_for = bc.make_act(bc_config)
    for seed in range(2):
        params = jax.tree.map(lambda x, s=seed: x[s], bc_run.state.params)
        data = bc.as_bc_data(jax.tree.map(lambda x, s=seed: x[s], lock_demos))
        actions, _ = jax.vmap(act_for(params, True))(
            jax.random.split(jax.random.key(0), len(data.obs)), data.obs
        )
        assert float((actions == data.action).mean()) == 1.0
    # The greedy clone opens the lock in every evaluation episode; BC uses no environment steps.
    np.testing.assert_array_equal(bc_run.metrics["eval_return"][:, -1], 1.0)
    assert bc_run.metrics["accuracy"].shape == (2, 2, 75)
    assert bc_run.summary["total_timesteps"] == 0


def test_bc_params_are_the_actor_of_ppos_network(bc_run):
    tree = jax.tree.map(lambda x: x.shape[1:], bc_run.state.params)
    assert set(tree["params"]) == {"actor_torso", "policy_head"}


def test_bc_without_a_dataset_raises(bc_config):
    agent = bc.SPEC.make_agent(bc_config)
    with pytest.raises(ValueError, match="demonstration dataset"):
        agent.init(jax.random.key(0), bc.BCHParams())


# ----------------------------------------------------------------------------------------------------
# PPO from given params, and the KL penalty


@pytest.fixture(scope="module")
def ppo_config():
    return ppo.PPOConfig(
        env_name=LOCK,
        env_kwargs=dict(LOCK_KWARGS),
        total_timesteps=4 * 16 * 6,
        num_envs=4,
        num_steps=16,
        num_epochs=2,
        num_minibatches=2,
        hidden_sizes=HIDDEN,
        eval_every=3,
        eval_episodes=4,
    )


def test_ppo_init_loads_the_bootstrap_actor_and_keeps_a_fresh_critic(ppo_config, bc_run):
    agent = ppo.SPEC.make_agent(ppo_config)
    bootstrap = jax.tree.map(lambda x: x[0], bc_run.state.params)
    key = jax.random.key(4)
    fresh = agent.init(key, ppo.PPOHParams())
    loaded = agent.init(key, ppo.PPOHParams(), bootstrap)
    assert fresh.ref_params is None
    # The first rollout's policy is the bootstrap: identical log-probabilities of every action.
    network = ActorCritic(4, True, "mlp", HIDDEN)
    obs = jax.nn.one_hot(jnp.arange(4), 4)

    def log_prob(params):  # [A, N]: every action in every lock state
        pi = network.apply(params, obs, method=ActorCritic.policy)
        return jax.vmap(lambda a: pi.log_prob(jnp.full((4,), a)))(jnp.arange(4))

    np.testing.assert_array_equal(log_prob(loaded.params), log_prob(bootstrap))
    np.testing.assert_array_equal(log_prob(loaded.ref_params), log_prob(bootstrap))
    # The critic is the one a fresh run would have had.
    for name in ("critic_torso", "value_head"):
        jax.tree.map(
            np.testing.assert_array_equal, loaded.params["params"][name], fresh.params["params"][name]
        )


def test_load_actor_rejects_another_architecture(ppo_config):
    agent = ppo.SPEC.make_agent(ppo_config)
    params = agent.init(jax.random.key(0), ppo.PPOHParams()).params
    wider = ActorCritic(4, True, "mlp", (32,)).init(jax.random.key(0), jnp.zeros(4))
    with pytest.raises(ValueError, match="does not fit"):
        load_actor(params, wider)
    with pytest.raises(ValueError, match="actor submodule"):
        actor_params({"params": {"critic_torso": {}}})


@pytest.fixture(scope="module")
def ppo_runs(ppo_config):
    """Plain PPO, and PPO started from its own initial actor with kl_coef in {0, 0.5} (one program)."""
    agent = ppo.SPEC.make_agent(ppo_config)
    train = ppo.make_train(ppo_config)
    keys = jax.random.split(jax.random.key(5), 2)
    plain = jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, ppo.PPOHParams())
    # Each seed's own fresh actor (init uses the first half of the run key, as `loop.split_run_key`).
    own_actor = jax.vmap(lambda k: actor_params(agent.init(jax.random.split(k)[0], ppo.PPOHParams()).params))(
        keys
    )
    hparams = ppo.PPOHParams(kl_coef=jnp.array([0.0, 0.5]))
    hparams = jax.tree.map(lambda x: jnp.broadcast_to(jnp.asarray(x, jnp.float32), (2,)), hparams)
    per_seed = jax.vmap(train, in_axes=(0, None, 0))
    bootstrapped = jax.jit(jax.vmap(per_seed, in_axes=(None, 0, None)))(keys, hparams, own_actor)
    return plain, bootstrapped


def test_kl_coef_zero_leaves_ppo_unchanged(ppo_runs):
    # Started from its own initial actor with kl_coef = 0, PPO reproduces plain PPO. Not bit for bit:
    # the extra (zero-weighted) KL term changes how XLA fuses and orders the gradient sums, which moves
    # a few values by one float32 ulp. Without `init_params` the KL code is not traced at all, so plain
    # PPO's program is unchanged.
    plain, bootstrapped = ppo_runs
    with_zero = jax.tree.map(lambda x: x[0], bootstrapped)
    for name, value in plain.metrics.items():
        np.testing.assert_allclose(with_zero.metrics[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    jax.tree.map(close, with_zero.state.params, plain.state.params)
    assert "kl_to_init" not in plain.metrics


def test_kl_penalty_keeps_the_policy_closer_to_its_start(ppo_runs):
    _, bootstrapped = ppo_runs
    kl = np.asarray(bootstrapped.metrics["kl_to_init"])  # [H=2, S, blocks, eval_every]
    assert np.all(kl >= -1e-6) and np.isfinite(kl).all()
    assert kl[1, :, -1].mean() < kl[0, :, -1].mean()


def test_bootstrap_with_obs_normalisation_is_rejected(ppo_config, bc_run):
    import dataclasses

    config = dataclasses.replace(ppo_config, normalize_obs=True)
    bootstrap = jax.tree.map(lambda x: x[0], bc_run.state.params)
    with pytest.raises(ValueError, match="normalize_obs"):
        ppo.SPEC.make_agent(config).init(jax.random.key(0), ppo.PPOHParams(), bootstrap)


def test_env_kwargs_reach_the_environment_and_are_validated():
    config = ppo.PPOConfig(env_name=LOCK, env_kwargs={"length": 5})
    assert config.env_kwargs == (("length", 5),)
    hash(config)
    with pytest.raises(ValueError, match="env_kwargs"):
        ppo.PPOConfig(env_name=LOCK, env_kwargs={"colour": "red"})
