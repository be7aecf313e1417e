"""PPO: learning on probe environments, purity (vmap == loop, determinism, seeds differ, no recompile),
hyperparameter sweeps and config validation."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.agents.ppo import SPEC, PPOConfig, PPOHParams, make_train

TINY = PPOConfig(
    env_name="CartPole-v1",
    total_timesteps=2 * 16 * 8,
    num_envs=2,
    num_steps=16,
    num_epochs=2,
    num_minibatches=2,
    hidden_sizes=(16,),
    eval_every=4,
    eval_episodes=2,
    eval_max_steps=20,
)


@pytest.fixture(scope="module")
def tiny_vmapped():
    return jax.jit(jax.vmap(make_train(TINY), in_axes=(0, None)))


@pytest.fixture(scope="module")
def tiny_outputs(tiny_vmapped):
    keys = jax.random.split(jax.random.key(0), 3)
    return keys, tiny_vmapped(keys, PPOHParams())


def test_output_shapes(tiny_outputs):
    _, out = tiny_outputs
    assert out.metrics["eval_return"].shape == (3, 2)  # [seed, block]
    assert out.metrics["policy_loss"].shape == (3, 2, 4)  # [seed, block, update]
    assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(out.metrics))


def test_vmap_equals_single_seed(tiny_outputs):
    keys, out = tiny_outputs
    single = jax.jit(make_train(TINY))(keys[1], PPOHParams())
    for batched, alone in zip(jax.tree.leaves(out), jax.tree.leaves(single), strict=True):
        np.testing.assert_allclose(np.asarray(batched[1]), np.asarray(alone), rtol=1e-5, atol=1e-6)


def test_deterministic_and_seeds_differ(tiny_vmapped, tiny_outputs):
    keys, out = tiny_outputs
    again = tiny_vmapped(keys, PPOHParams())
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    kernels = [leaf for leaf in jax.tree.leaves(out.state.params) if leaf.ndim == 3]
    assert not np.allclose(kernels[0][0], kernels[0][1]), "two seeds produced identical parameters"


def test_second_call_does_not_recompile(tiny_vmapped, tiny_outputs):
    del tiny_outputs  # compiled and cached by the fixture
    before = tiny_vmapped._cache_size()
    tiny_vmapped(jax.random.split(jax.random.key(7), 3), PPOHParams(learning_rate=1e-3, ent_coef=0.0))
    assert tiny_vmapped._cache_size() == before == 1


def test_hparam_sweep_matches_individual_runs(tiny_outputs):
    keys, out = tiny_outputs
    stacked = PPOHParams(*[jnp.asarray([v, v]) for v in PPOHParams()])
    stacked = stacked._replace(learning_rate=jnp.asarray([2.5e-4, 1e-3]))
    swept = jax.jit(jax.vmap(jax.vmap(make_train(TINY), in_axes=(0, None)), in_axes=(None, 0)))(keys, stacked)
    assert swept.metrics["eval_return"].shape == (2, 3, 2)
    np.testing.assert_allclose(
        swept.metrics["policy_loss"][0], out.metrics["policy_loss"], rtol=1e-5, atol=1e-6
    )
    assert not np.allclose(swept.metrics["policy_loss"][1], out.metrics["policy_loss"])


PROBE = dict(
    total_timesteps=8 * 16 * 40,
    num_envs=8,
    num_steps=16,
    num_minibatches=2,
    hidden_sizes=(32,),
    eval_every=20,
    eval_episodes=32,
)


@pytest.mark.parametrize(
    ("env_name", "threshold", "hparams"),
    [
        # reward +1 iff the action matches the sign of the observation: needs obs-dependent policy
        ("Probe-ObsActionReward-v0", 0.95, PPOHParams(learning_rate=3e-3)),
        # continuous: reward -(a - obs)^2 with obs ~ U[-1, 1]; a policy ignoring obs (mean 0) scores
        # E[-obs^2] = -1/3, so > -0.15 means the greedy action tracks the observation
        ("Probe-ContinuousTarget-v0", -0.15, PPOHParams(learning_rate=3e-3, ent_coef=0.0)),
    ],
)
def test_ppo_learns_probe(env_name, threshold, hparams):
    config = PPOConfig(env_name=env_name, **PROBE)
    keys = jax.random.split(jax.random.key(1), 4)
    out = jax.jit(jax.vmap(make_train(config), in_axes=(0, None)))(keys, hparams)
    final = np.asarray(out.metrics["eval_return"][:, -1])
    assert np.all(final > threshold), final


def test_value_learns_discounted_two_step_return():
    # Probe-TwoStep: reward 1 only at the end of step 2, so V(first obs) = gamma.
    config = PPOConfig(env_name="Probe-TwoStep-v0", **PROBE)
    hparams = PPOHParams(learning_rate=3e-3, gamma=0.9)
    out = jax.jit(make_train(config))(jax.random.key(3), hparams)
    from purerl.networks import ActorCritic

    net = ActorCritic(1, True, hidden_sizes=(32,))
    values = net.apply(out.state.params, jnp.array([[0.0], [1.0]]), method=ActorCritic.value)
    np.testing.assert_allclose(values, [0.9, 1.0], atol=0.1)


BAD_CONFIGS = [
    (dict(num_minibatches=3), "num_minibatches"),
    (dict(num_envs=0), "num_envs"),
    (dict(num_steps=-5), "num_steps"),
    (dict(total_timesteps=100), "total_timesteps"),
    (dict(env_name="CartPol-v1"), "CartPole-v1"),
    (dict(activation="sigmoidish"), "activation"),
    (dict(network="resnet"), "network"),
    (dict(hidden_sizes=(64, 0)), "hidden_sizes"),
    (dict(eval_every=10_000), "eval_every"),
    (dict(num_epochs=1.5), "num_epochs"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_CONFIGS)
def test_bad_config_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(PPOConfig(), **overrides)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("learning_rate", -1e-3),
        ("gamma", 1.5),
        ("clip_eps", 0.0),
        ("ent_coef", -0.1),
        ("gae_lambda", float("nan")),
    ],
)
def test_bad_hparams_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        SPEC.validate_hparams(PPOHParams()._replace(**{field: value}))


def test_mlp_flattens_image_observations():
    # Regression: an MLP torso on MinAtar's [10, 10, 4] observations must give one action per env.
    from purerl.agents.actor_critic import make_actor_critic
    from purerl.envs import make

    env, _ = make("Breakout-MinAtar")
    net = make_actor_critic(env.spec, PPOConfig(hidden_sizes=(16,), activation="relu"))
    obs = jnp.zeros((5, 10, 10, 4))
    params = net.init(jax.random.key(0), obs)
    pi, value = net.apply(params, obs)
    assert pi.logits.shape == (5, 3)
    assert value.shape == (5,)
