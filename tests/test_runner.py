"""The many-seed runner: chunked == single-call, determinism, seed-count invariance, divergence.

Most tests share one compiled program (the tiny PPO sweep of `tests/_tiny_ppo.py`, cached by the runner),
plus a reference `vmap(train)` and an unbatched `train` compiled once each for the module.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl import io, results, runner, tables
from purerl.agents.ppo import PPOHParams, make_train
from purerl.loop import Agent, make_train_fn
from tests._tiny_ppo import (
    FAST_COMPILE,
    NUM_SEEDS,
    TINY_CONFIG,
    run_sweep,
    sweep_hparams,
    trees_equal,
)


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory) -> tuple[runner.RunResult, Any]:
    out = tmp_path_factory.mktemp("sweep") / "run"
    return run_sweep(out_dir=out), out


@pytest.fixture(scope="module")
def reference():
    """`jax.vmap(train)` over the same four runs (setting-major), in one call, no runner."""
    hparams, _ = sweep_hparams()
    seed_keys = jax.random.split(jax.random.key(0), NUM_SEEDS)
    keys = jnp.concatenate([seed_keys, seed_keys])
    flat_hparams = jax.tree.map(lambda v: jnp.repeat(jnp.asarray(v), NUM_SEEDS), hparams)
    train = jax.jit(jax.vmap(make_train(TINY_CONFIG)), compiler_options=FAST_COMPILE)
    out = train(keys, flat_hparams)
    return keys, flat_hparams, jax.device_get(out)


def _as_runs(tree: Any) -> Any:
    """`[H, S, ...]` -> `[H * S, ...]`."""
    return jax.tree.map(lambda x: np.asarray(x).reshape((-1, *np.shape(x)[2:])), tree)


def test_chunked_run_equals_single_call_train(sweep_run, reference):
    """The runner's chunks (one block per call, checkpointed) against `vmap(train)` in one call.

    Both are compiled separately, so XLA may fuse the optimiser step differently: with XLA's default CPU
    pipeline the two are bit-identical; with the legacy loop emitters the test suite uses
    (`--xla_cpu_use_fusion_emitters=false`, tests/conftest.py) a few parameters and Adam moments differ in
    the last bits (measured: relative 1e-7 to 1.2e-6 for tiny Adam moments), and a near-zero loss by
    ~5e-8. So: metrics and the healthy
    runs' state to float32 rounding (the diverged runs' frozen parameters are ~1e27, where
    learning_rate=1e30 magnifies a last-bit gradient difference to 3e-6 relative; they must be frozen at
    the same update in both). Runs of the *same* program (resume, seed counts) are compared bit for bit.
    """
    result, _ = sweep_run
    _, _, ref = reference
    ours = _as_runs(result.metrics)
    assert sorted(ours) == sorted(ref.metrics)
    for name, value in ref.metrics.items():
        # PPO's ablation gates (selects) let XLA order a minibatch mean differently in the two programs:
        # the first epoch's policy loss, a mean of standardised advantages near 0 (~1e-7), moves by ~5e-8.
        np.testing.assert_allclose(ours[name], value, rtol=1e-6, atol=1e-6, err_msg=name)
    state = _as_runs(jax.device_get(result.state))
    healthy = slice(0, NUM_SEEDS)  # setting 0; setting 1 diverged
    for x, y in zip(jax.tree.leaves(state), jax.tree.leaves(ref.state), strict=True):
        np.testing.assert_allclose(x[healthy], y[healthy], rtol=1e-5, atol=0)
        assert np.isfinite(x).all() == np.isfinite(y).all()
    np.testing.assert_array_equal(state.update_count, ref.state.update_count)


def test_vmap_equals_unbatched_train(reference):
    """`vmap(train)(keys)[i]` vs `train(keys[i])`: equal to float32 rounding.

    Bit equality does not hold on XLA:CPU: the unbatched program (like a batch of one) takes other code
    paths, e.g. for the backward matmul `dy @ W.T` and `clip_by_global_norm`'s rescaling (measured and
    documented in docs/long_runs.md). The runner therefore never runs fewer than two runs per device.
    """
    keys, flat_hparams, ref = reference
    train_one = jax.jit(make_train(TINY_CONFIG), compiler_options=FAST_COMPILE)
    i = 0  # the healthy setting: the diverged one is NaN-masked anyway
    one = jax.device_get(train_one(keys[i], jax.tree.map(lambda v: v[i], flat_hparams)))
    batched = jax.tree.map(lambda x: x[i], ref)
    for name, value in one.metrics.items():
        np.testing.assert_allclose(value, batched.metrics[name], rtol=1e-4, atol=1e-5, err_msg=name)
    for x, y in zip(jax.tree.leaves(one.state), jax.tree.leaves(batched.state), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


def test_same_key_same_bits_and_no_recompile(sweep_run):
    first, _ = sweep_run
    again = run_sweep()
    assert again.summary["compile_cached"]
    assert trees_equal(first.metrics, again.metrics)
    assert trees_equal(jax.device_get(first.state), jax.device_get(again.state))


def test_results_do_not_depend_on_how_many_seeds_run_together(sweep_run):
    """Seeds 0 and 1 of the swept run equal seeds 0 and 1 of a plain 4-seed run of the same setting (seed
    `s`'s key does not depend on `num_seeds`). Different per-device batch sizes: see test_sharding."""
    swept, _ = sweep_run
    alone = runner.run(
        TINY_CONFIG,
        PPOHParams(learning_rate=2.5e-4),
        4,
        num_chunks=4,
        progress=False,
        compiler_options=FAST_COMPILE,
    )
    assert alone.metrics["eval_return"].shape[0] == 4
    first_two = jax.tree.map(lambda x: x[:2], alone.metrics)
    assert trees_equal(first_two, jax.tree.map(lambda x: x[0], swept.metrics))


def test_planted_nan_setting_is_frozen_and_reported(sweep_run):
    result, out = sweep_run
    summary = result.summary
    assert summary["diverged_seeds"] == [[1, 0], [1, 1]]
    assert summary["num_diverged"] == 2
    assert summary["sweep"][0]["num_healthy"] == NUM_SEEDS
    assert summary["sweep"][0]["final_return"]["num_seeds"] == NUM_SEEDS
    assert summary["sweep"][1]["final_return"] is None
    assert summary["best_setting"] == 0
    assert result.healthy.tolist() == [[True, True], [False, False]]
    # Frozen: the diverged runs' final parameters are finite (their last finite state) ...
    params = jax.device_get(result.state.params)
    assert all(np.isfinite(x[1]).all() for x in jax.tree.leaves(params))
    # ... and their metrics are NaN from the block in which they diverged.
    block = summary["sweep"][1]["diverged_at_block"]["0"]
    assert np.isnan(result.metrics["eval_return"][1, :, block:]).all()
    assert np.isfinite(result.metrics["eval_return"][0]).all()
    assert not result.metrics["healthy"][1, :, block:].any()
    on_disk = io.read_json(out / "summary.json")
    assert on_disk["diverged_seeds"] == [[1, 0], [1, 1]]


def test_diverged_state_stops_changing(sweep_run):
    """Stopping right after the divergence block gives the same state for the diverged setting as the
    full run: nothing changed after it was frozen."""
    result, _ = sweep_run
    block = result.summary["sweep"][1]["diverged_at_block"]["0"]
    early = run_sweep(stop_after_chunks=block + 1)
    assert not early.summary["complete"]
    final = jax.tree.map(lambda x: np.asarray(x)[1], jax.device_get(result.state))
    at_divergence = jax.tree.map(lambda x: np.asarray(x)[1], jax.device_get(early.state))
    assert trees_equal(final, at_divergence)


def test_results_directory(sweep_run):
    result, out = sweep_run
    for name in results.RESULT_FILES:
        assert (out / name).is_file(), name
    record = io.read_json(out / "config.json")
    assert record["algo"] == "ppo" and record["num_seeds"] == NUM_SEEDS
    with np.load(out / "metrics.npz", allow_pickle=False) as saved:
        assert np.array_equal(saved["eval_return"], result.metrics["eval_return"], equal_nan=True)
        assert saved["healthy"].dtype == bool


def test_cli_table_counts_healthy_seeds(sweep_run):
    table = tables.format_table(sweep_run[0].summary)
    assert "all seeds diverged" in table
    assert "2/2" in table and "0/2" in table
    assert "2 of 4 runs diverged" in table


# ----------------------------------------------------------------------------------------------------
# The finite-check in the generic loop, on a toy agent (compiles in about a second)


class ToyState(NamedTuple):
    w: jax.Array
    t: jax.Array


def _toy_agent(bad_step: int) -> Agent:
    """`w` grows by `hparams` each update; a run whose hparam is negative turns NaN at `bad_step`."""

    def init(key, hparams):
        return ToyState(jax.random.normal(key, (3,)), jnp.zeros((), jnp.int32))

    def update(key, state, hparams):
        t = state.t + 1
        poison = jnp.where((hparams < 0) & (t >= bad_step), jnp.nan, 0.0)
        w = state.w + jnp.abs(hparams) + poison
        return ToyState(w, t), {"loss": jnp.sum(w), "step": t}

    def evaluate(key, state, hparams):
        return {"eval_return": jnp.sum(state.w)}

    def act(key, state, obs):  # the toy acts in no environment; the loop never calls it
        return obs

    return Agent(init, update, evaluate, num_blocks=5, eval_every=2, env_steps_per_update=1, act=act)


def test_loop_freezes_only_the_diverged_seed():
    train = jax.jit(jax.vmap(make_train_fn(_toy_agent(bad_step=5))))
    keys = jax.random.split(jax.random.key(1), 3)
    out = train(keys, jnp.asarray([1.0, -1.0, 2.0]))
    healthy = np.asarray(out.metrics["healthy"])
    # Update 5 is in block 2 (updates 5-6): the seed is healthy for blocks 0-1, frozen from block 2.
    assert healthy.tolist() == [[True] * 5, [True, True, False, False, False], [True] * 5]
    assert np.isnan(np.asarray(out.metrics["loss"])[1, 2:]).all()
    assert np.isfinite(np.asarray(out.metrics["loss"])[[0, 2]]).all()
    # Its state is the one after block 1 (4 updates), the others ran all 10 updates.
    assert np.asarray(out.state.t).tolist() == [10, 4, 10]
    clean = jax.jit(jax.vmap(make_train_fn(_toy_agent(bad_step=10**6))))(keys, jnp.asarray([1.0, 1.0, 2.0]))
    np.testing.assert_array_equal(np.asarray(out.state.w)[[0, 2]], np.asarray(clean.state.w)[[0, 2]])
    # Integer metrics are kept (there is no integer NaN); float metrics are masked.
    assert np.asarray(out.metrics["step"]).dtype == np.int32


def test_summary_statistics_use_healthy_seeds_only():
    final = np.asarray([1.0, np.nan, 3.0, 5.0])
    healthy_blocks = np.asarray([[True, True], [True, False], [True, True], [True, True]])
    entry = results.seed_summary(final, healthy_blocks)
    assert entry["num_healthy"] == 3
    assert entry["diverged_seeds"] == [1]
    assert entry["diverged_at_block"] == {"1": 1}
    assert entry["final_return"]["per_seed"] == [1.0, 3.0, 5.0]


# ----------------------------------------------------------------------------------------------------
# Run layout


@pytest.mark.parametrize(
    ("settings", "seeds", "devices", "num_runs"),
    [(1, 1, 1, 2), (1, 2, 1, 2), (1, 3, 1, 3), (2, 2, 1, 4), (1, 3, 4, 8), (1, 9, 4, 12), (3, 5, 2, 16)],
)
def test_plan_runs_pads_to_whole_devices(settings, seeds, devices, num_runs):
    layout = runner.plan_runs(settings, seeds, devices)
    assert layout.num_runs == num_runs
    assert layout.num_runs % devices == 0 and layout.num_runs // devices >= runner.MIN_RUNS_PER_DEVICE
    real = settings * seeds
    assert layout.setting_index[:real].tolist() == [r // seeds for r in range(real)]
    assert layout.seed_index[:real].tolist() == [r % seeds for r in range(real)]
    # Padding repeats the last real run (valid inputs, results dropped).
    assert set(layout.setting_index[real:]) <= {settings - 1}
    assert set(layout.seed_index[real:]) <= {seeds - 1}


def test_plan_runs_rejects_a_saved_layout_that_does_not_fit():
    with pytest.raises(ValueError, match="divisible by 4"):
        runner.plan_runs(1, 3, 4, num_runs=6)
