"""Ablations (`purerl.ablate`): the traced PPO components are exact switches, a variant run inside the
ablation program is the same run as that variant on its own, and the table reports what DESIGN.md asks.

Compiles three tiny PPO programs (the ablation's, its static variant's, one separate variant), shared
through module-scoped fixtures.
"""

from __future__ import annotations

import argparse
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from purerl import learn, runner
from purerl.ablate import ablate, select_components
from purerl.agents import get_algorithm
from purerl.agents.ppo import PPOHParams
from purerl.cli_ablate import add_commands
from purerl.losses import ppo_policy_loss
from tests._tiny_ppo import FAST_COMPILE, trees_equal

# The full method observes through running statistics, so the static component acts too.
TINY = {
    "num_envs": 2,
    "num_steps": 8,
    "total_timesteps": 64,
    "num_epochs": 1,
    "num_minibatches": 2,
    "hidden_sizes": (8,),
    "eval_every": 2,
    "eval_episodes": 2,
    "eval_max_steps": 8,
    "normalize_obs": True,
}
CHOSEN = ["norm_adv", "clip_ratio", "normalize_obs"]
NUM_SEEDS = 2
OPTIONS = {"progress": False, "num_chunks": 1, "compiler_options": FAST_COMPILE}


@pytest.fixture(scope="module")
def devices():
    return [jax.devices()[0]]


@pytest.fixture(scope="module")
def ablation(tmp_path_factory, devices):
    out = tmp_path_factory.mktemp("ablation")
    result = ablate(
        "ppo", "CartPole-v1", CHOSEN, NUM_SEEDS, seed=3, out=out, devices=devices, run_options=OPTIONS, **TINY
    )
    return result, out


def test_traced_variant_equals_its_own_run(ablation, devices):
    result, _ = ablation
    config, hparams = get_algorithm("ppo").preset("CartPole-v1", **TINY)
    row = [e["name"] for e in result["entries"]].index("norm_adv")
    alone = runner.run(config, hparams._replace(norm_adv=0.0), NUM_SEEDS, seed=3, devices=devices, **OPTIONS)
    inside = result["runs"]["program"]
    in_program = jax.tree.map(lambda x: np.asarray(x)[row], inside.state.params)
    # Bit for bit here; XLA:CPU may reorder a reduction between programs of other batch sizes.
    if not trees_equal(in_program, alone.state.params):
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
            in_program,
            alone.state.params,
        )
    np.testing.assert_allclose(inside.metrics["eval_return"][row], alone.metrics["eval_return"], rtol=1e-6)
    # The switch acted: raw advantages train other parameters than standardised ones.
    full = jax.tree.map(lambda x: np.asarray(x)[0], inside.state.params)
    assert not trees_equal(full, in_program)


def test_static_variant_is_its_own_program_with_the_same_seeds(ablation):
    result, _ = ablation
    static = result["runs"]["static-normalize_obs"]
    assert static.summary["seed"] == 3 and static.summary["num_seeds"] == NUM_SEEDS
    kinds = {e["name"]: e["kind"] for e in result["entries"]}
    assert kinds == {"full": "full", "norm_adv": "traced", "clip_ratio": "traced", "normalize_obs": "static"}
    assert result["runs"]["program"].metrics["eval_return"].shape[:2] == (3, NUM_SEEDS)  # [H, S, blocks]


def test_table_and_files(ablation):
    result, out = ablation
    header, _, *rows = result["table"].splitlines()
    for column in ("variant", "off", "IQM [95% CI]", "mean", "at target", "P(> full) [95% CI]", "seeds ok"):
        assert column in header
    assert [r.split()[0] for r in rows[:4]] == ["full", *CHOSEN]
    assert "baseline" in rows[0] and "clip_ratio=0" in rows[2]
    entry = result["entries"][1]
    assert entry["fraction_at_target"] is not None and entry["probability_of_improvement"] is not None
    assert 0.0 <= entry["probability_of_improvement"]["p"] <= 1.0
    assert {p.name for p in out.iterdir()} >= {
        "ablation.json",
        "ablation.txt",
        "learning_curves.png",
        "program",
    }


def test_unknown_component_is_a_one_line_error():
    spec = get_algorithm("ppo")
    with pytest.raises(ValueError, match=r"unknown ppo component 'clip'.*Valid ppo components: .*norm_adv"):
        select_components(spec, ["clip"])
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["ablate", "ppo", "--env", "CartPole-v1", "--components", "norm_adv,nope"])
    with pytest.raises(ValueError, match="unknown ppo component 'nope'") as err:
        args.func(args)
    assert "\n" not in str(err.value)


def test_component_already_off_is_refused_when_named_and_skipped_otherwise(devices):
    with pytest.raises(ValueError, match="'normalize_obs' cannot be ablated here: it is already off"):
        ablate(
            "ppo", "CartPole-v1", ["normalize_obs"], 2, devices=devices, **{**TINY, "normalize_obs": False}
        )
    with pytest.raises(ValueError, match="'lr_decay' cannot be ablated here: it acts only with anneal_lr"):
        ablate("ppo", "CartPole-v1", ["lr_decay"], 2, devices=devices, **{**TINY, "anneal_lr": False})


@pytest.mark.parametrize("name", ["ppo", "dqn"])
def test_every_component_switches_off_to_valid_values(name):
    spec = get_algorithm(name)
    config, hparams = spec.preset("CartPole-v1")
    for part in spec.components.values():
        if part.static:
            dataclasses.replace(config, **part.off)  # a valid config
        else:
            spec.validate_hparams(hparams._replace(**part.off))
    with pytest.raises(ValueError, match=r"PPOHParams.norm_adv must be in \{0, 1\}"):
        get_algorithm("ppo").validate_hparams(PPOHParams(norm_adv=0.5))


def _updates(tx, steps=3):
    params = {"w": jnp.arange(6.0).reshape(2, 3)}
    state = tx.init(params)
    out = []
    for i in range(steps):
        grads = {"w": (i + 1.0) * jnp.linspace(-3.0, 5.0, 6).reshape(2, 3)}  # norms above max_grad_norm
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        out.append(params)
    return out


def test_optimizer_gates_are_exact_in_both_positions():
    lr, norm = jnp.float32(1e-2), jnp.float32(0.5)
    ungated = _updates(learn.make_optimizer(lr, norm, decay_steps=6, hold_steps=2))
    on = _updates(learn.make_optimizer(lr, norm, decay_steps=6, hold_steps=2, decay_gate=1.0, clip_gate=1.0))
    assert trees_equal(on, ungated)  # the default gates: the optimiser as before, bit for bit
    off = _updates(learn.make_optimizer(lr, norm, decay_steps=6, hold_steps=2, decay_gate=0.0, clip_gate=0.0))
    assert trees_equal(off, _updates(optax.adam(lr, eps=1e-5)))  # constant rate, no clipping


def test_clip_ratio_gate_gives_the_unclipped_surrogate_exactly():
    # Ratios far outside [0.8, 1.2], so the clipped surrogate differs from -E[r A].
    log_prob = jnp.array([-0.5, -1.0, -2.0, -0.1], jnp.float32)
    old = jnp.array([-0.9, -0.4, -1.0, -0.1], jnp.float32)
    adv = jnp.array([1.0, -2.0, 0.5, 3.0], jnp.float32)

    def unclipped(lp):
        ratio = jnp.exp(lp - old)
        return -jnp.mean(ratio * adv)

    def gated(gate):
        return jax.jit(jax.value_and_grad(lambda lp: ppo_policy_loss(lp, old, adv, 0.2, clip=gate)[0]))

    value, grad = gated(0.0)(log_prob)
    np.testing.assert_allclose(value, -np.mean(np.exp(log_prob - old) * adv), rtol=1e-6)  # NumPy
    expected_value, expected_grad = jax.jit(jax.value_and_grad(unclipped))(log_prob)
    np.testing.assert_array_equal(value, expected_value)
    np.testing.assert_array_equal(grad, expected_grad)
    plain = jax.jit(jax.value_and_grad(lambda lp: ppo_policy_loss(lp, old, adv, 0.2)[0]))(log_prob)
    assert trees_equal(gated(1.0)(log_prob), plain) and not np.allclose(plain[0], value)
