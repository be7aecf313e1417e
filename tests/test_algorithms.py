"""The algorithm contract, checked for every registered algorithm (a new one gets these by registering).

Each algorithm runs a tiny config on a one-step probe (discrete or continuous, whichever it supports):
seeds differ, `vmap(train)(keys)[i]` equals `train(keys[i])`, reruns are bit-identical, a second call
with other keys and hyperparameters does not recompile, out-of-range hyperparameters are rejected before
anything is traced, and `act` follows the contract. The `slow` test learns the probe.
"""

from __future__ import annotations

import typing

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.agents import algorithms
from purerl.agents.bc import BCData
from purerl.config import POSITIVE, Range, field_checks, field_names
from purerl.envs import make
from purerl.games.core import batch_init
from purerl.games.training import GameConfig

PROBES = {"discrete": "Probe-ObsActionReward-v0", "continuous": "Probe-ContinuousTarget-v0"}
# Small values for whichever of these fields an algorithm's config has.
TINY = dict(
    num_envs=2,
    num_steps=4,
    num_epochs=1,
    num_minibatches=1,
    hidden_sizes=(8,),
    eval_every=2,
    eval_episodes=2,
    eval_max_steps=4,
    batch_size=8,
    buffer_size=64,
    learning_starts=8,
    random_steps=8,
    gradient_steps=2,
    policy_delay=1,
    num_updates=6,
    num_games=2,
    num_simulations=2,
)
NUM_SEEDS = 3


def tiny_config(spec, env_name: str, **extra):
    fields = field_names(spec.config_cls)
    kwargs = {k: v for k, v in {**TINY, **extra}.items() if k in fields}
    config = spec.config_cls(env_name=env_name, **kwargs)
    if "total_timesteps" in fields and "total_timesteps" not in extra:
        config = spec.config_cls(env_name=env_name, total_timesteps=6 * config.steps_per_update, **kwargs)
    return config


def init_args(name: str, env_name: str, num_seeds: int) -> tuple:
    """Per-seed data an algorithm's `init` needs: a labelled dataset for behaviour cloning."""
    if name != "bc":
        return ()
    obs = jax.random.choice(jax.random.key(3), jnp.array([-1.0, 1.0]), (num_seeds, 64, 1))
    return (BCData(obs, (obs[..., 0] > 0).astype(jnp.int32)),)


def probe_for(spec) -> str:
    return spec.probe or PROBES[spec.action_spaces[0]]


@pytest.fixture(scope="module", params=sorted(algorithms()))
def compiled(request):
    """`(name, spec, config, train, jitted vmapped train, keys, init_args, output)` for one algorithm."""
    name = request.param
    spec = algorithms()[name]
    env_name = probe_for(spec)
    config = tiny_config(spec, env_name)
    train = spec.make_train(config)
    args = init_args(name, env_name, NUM_SEEDS)
    vmapped = jax.jit(jax.vmap(train, in_axes=(0, None) + (0,) * len(args)))
    keys = jax.random.split(jax.random.key(0), NUM_SEEDS)
    return name, spec, config, train, vmapped, keys, args, vmapped(keys, spec.hparams_cls(), *args)


def test_metrics_have_block_axes_and_are_finite(compiled):
    _, _, _, _, _, _, _, out = compiled
    assert out.metrics["eval_return"].shape[0] == NUM_SEEDS
    assert out.metrics["healthy"].all()
    assert all(np.all(np.isfinite(np.asarray(v))) for v in jax.tree.leaves(out.metrics))


def test_seeds_differ(compiled):
    """Not every seed repeats seed 0, in the final state or the metrics: a deterministic rule on a
    deterministic probe (UCB1 after its first pulls) ends in one state whatever the key, and only its
    random tie-breaking shows, in the first updates' metrics."""
    _, _, _, _, _, _, _, out = compiled
    tree = (out.state, out.metrics)
    leaves = [np.asarray(x) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating)]
    differ = [not np.array_equal(x[0], x[i]) for x in leaves if x.ndim > 1 for i in range(1, NUM_SEEDS)]
    assert any(differ), "every seed is identical to seed 0"


def test_vmap_equals_single_seed(compiled):
    _, _, _, train, _, keys, args, out = compiled
    hparams = compiled[1].hparams_cls()
    single = jax.jit(train)(keys[1], hparams, *jax.tree.map(lambda x: x[1], args))
    for batched, alone in zip(jax.tree.leaves(out), jax.tree.leaves(single), strict=True):
        if jnp.issubdtype(alone.dtype, jnp.floating):
            np.testing.assert_allclose(np.asarray(batched[1]), np.asarray(alone), rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(np.asarray(batched[1]), np.asarray(alone))


def test_rerun_is_bit_identical_and_second_call_does_not_recompile(compiled):
    _, spec, _, _, vmapped, keys, args, out = compiled
    again = vmapped(keys, spec.hparams_cls(), *args)
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other = spec.hparams_cls(**{f: 0.5 * v if v > 0 else v for f, v in spec.hparams_cls()._asdict().items()})
    vmapped(jax.random.split(jax.random.key(9), NUM_SEEDS), other, *args)
    assert vmapped._cache_size() == 1


@pytest.mark.parametrize("name", sorted(algorithms()))
def test_out_of_range_hparams_rejected_after_the_float32_cast(name):
    spec = algorithms()[name]
    checks = field_checks(spec.hparams_cls)
    for field in spec.hparams_cls._fields:
        with pytest.raises(ValueError, match=f"{spec.hparams_cls.__name__}.{field} must be finite"):
            spec.validate_hparams(spec.hparams_cls()._replace(**{field: 1e39}))  # inf in float32
    positive = [f for f, c in checks.items() if POSITIVE in c]
    assert positive, f"{name} has no positive hyperparameter to check"
    for field in positive:
        with pytest.raises(ValueError, match=f"{field} must be in"):
            spec.validate_hparams(spec.hparams_cls()._replace(**{field: 1e-50}))  # 0 in float32
    for field, field_check in checks.items():
        bounded = [c for c in field_check if isinstance(c, Range) and np.isfinite(c.high)]
        for valid in bounded:
            with pytest.raises(ValueError, match=f"{field} must be in"):
                spec.validate_hparams(spec.hparams_cls()._replace(**{field: valid.high + 1.0}))


@pytest.mark.parametrize("name", sorted(algorithms()))
def test_every_hparam_field_declares_its_range(name):
    spec = algorithms()[name]
    hints = typing.get_type_hints(spec.hparams_cls, include_extras=True)
    for field in spec.hparams_cls._fields:
        assert any(isinstance(m, Range) for m in getattr(hints[field], "__metadata__", ())), field


def test_act_follows_the_contract(compiled):
    _, spec, config, _, _, keys, _, out = compiled
    agent = spec.make_agent(config)
    state = jax.tree.map(lambda x: x[0], out.state)
    if isinstance(config, GameConfig):  # observations are game states; actions are legal moves
        states = batch_init(config.game, keys[1], 5)
        action = jax.jit(agent.act)(keys[0], state, states)
        assert action.shape == (5,) and action.dtype == jnp.int32
        assert bool(jnp.all(states.legal_action_mask[jnp.arange(5), action]))
        return
    env_spec = make(config.env_name)[0].spec
    obs = jnp.zeros((5, *env_spec.observation_space.shape), env_spec.observation_space.dtype)
    action = jax.jit(agent.act)(keys[0], state, obs)
    assert action.shape == (5, *env_spec.action_space.shape)
    assert bool(jnp.all(jax.vmap(env_spec.action_space.contains)(action)))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(algorithms()))
def test_learns_its_probe(name):
    """Each algorithm's defaults (tiny network, short run) solve the one-step probe on most seeds."""
    spec = algorithms()[name]
    if issubclass(spec.config_cls, GameConfig):
        pytest.skip("a game has no one-step probe: test_alphazero learns tic-tac-toe against the solver")
    env_name = probe_for(spec)
    extra = {"eval_every": 0, "eval_episodes": 16, "num_updates": 400}
    config = tiny_config(spec, env_name, hidden_sizes=(32,), **extra)
    fields = field_names(spec.config_cls)
    if "total_timesteps" in fields:
        steps = max(400 * config.steps_per_update, 4000)
        config = tiny_config(spec, env_name, hidden_sizes=(32,), total_timesteps=steps, **extra)
    args = init_args(name, env_name, 8)
    train = jax.jit(jax.vmap(spec.make_train(config), in_axes=(0, None) + (0,) * len(args)))
    out = train(jax.random.split(jax.random.key(1), 8), spec.hparams_cls(), *args)
    final = np.asarray(out.metrics["eval_return"])[:, -1]
    # Optimal return: 1 on the discrete probe, 0 (no squared error) on the continuous one.
    target = 0.9 if spec.action_spaces[0] == "discrete" else -0.1
    assert np.mean(final >= target) >= 0.75, f"{name}: final eval returns {final}"
