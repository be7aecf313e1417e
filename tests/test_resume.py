"""Checkpoint and resume: a run stopped after any chunk and resumed equals the uninterrupted run, bit for
bit; mismatched, corrupt or foreign checkpoints are refused with nothing overwritten.

Uses the tiny PPO sweep of `tests/_tiny_ppo.py` (one compiled program for the whole module, shared with
test_runner through the runner's cache).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import shlex
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint
import pytest

from purerl import cli, io, results, runner
from tests._tiny_ppo import FAST_COMPILE, NUM_CHUNKS, TINY_CLI_SETS, run_sweep, trees_equal


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> tuple[runner.RunResult, Path]:
    """The uninterrupted run (checkpointing after every chunk, keeping the last two)."""
    out = tmp_path_factory.mktemp("full") / "run"
    return run_sweep(out_dir=out), out


@pytest.fixture(scope="module")
def stopped(tmp_path_factory) -> Path:
    """A run stopped after 2 of 4 chunks: a template that tests copy and then damage."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    partial = run_sweep(out_dir=out, stop_after_chunks=2)
    assert not partial.summary["complete"] and partial.summary["blocks_done"] == 2
    return out


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(src, dst)
    return dst


def _snapshot(directory: Path) -> dict[str, bytes]:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return {str(p.relative_to(directory)): p.read_bytes() for p in files}


def _assert_same_results(a: runner.RunResult, b: runner.RunResult) -> None:
    assert trees_equal(a.metrics, b.metrics)
    assert trees_equal(jax.device_get(a.state), jax.device_get(b.state))
    assert a.summary["diverged_seeds"] == b.summary["diverged_seeds"]
    assert [s["final_return"] for s in a.summary["sweep"]] == [s["final_return"] for s in b.summary["sweep"]]


def test_keeps_the_last_k_checkpoints_with_their_metrics(full):
    _, out = full
    assert sorted(int(p.name) for p in (out / results.CHECKPOINT_DIR).iterdir()) == [3, 4]
    names = sorted(p.name for p in (out / results.CHECKPOINT_METRICS_DIR).iterdir())
    assert names == ["3.npz", "3.sha256.json", "4.npz", "4.sha256.json"]
    with np.load(out / results.CHECKPOINT_METRICS_DIR / "3.npz", allow_pickle=False) as saved:
        assert saved["eval_return"].shape[:2] == (4, 3)  # [runs, completed blocks]


@pytest.mark.parametrize("stop_after", range(1, NUM_CHUNKS))
def test_stopped_after_any_chunk_and_resumed_is_bit_identical(full, tmp_path, stop_after):
    out = tmp_path / "run"
    partial = run_sweep(out_dir=out, stop_after_chunks=stop_after)
    assert partial.summary["blocks_done"] == stop_after
    assert not (out / "summary.json").exists()  # results are written when the run completes
    resumed = run_sweep(out_dir=out, resume=True)
    assert resumed.summary["resumed_from_block"] == stop_after
    assert resumed.summary["complete"]
    _assert_same_results(full[0], resumed)
    with np.load(out / "metrics.npz", allow_pickle=False) as a, np.load(full[1] / "metrics.npz") as b:
        assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in b.files)


def test_killed_between_checkpoints_resumes_from_the_last_one(full, tmp_path):
    """Checkpoints every 2 chunks; killed after chunk 3, before its checkpoint, and while orbax was
    writing one (a leftover temporary directory and a metrics file without its step)."""
    out = tmp_path / "run"
    run_sweep(out_dir=out, checkpoint_every=2, stop_after_chunks=3)
    # The stop forced a checkpoint at 3; remove it to leave what a kill after chunk 3 leaves.
    shutil.rmtree(out / results.CHECKPOINT_DIR / "3")
    (out / results.CHECKPOINT_DIR / "3.orbax-checkpoint-tmp-1700000000").mkdir()
    resumed = run_sweep(out_dir=out, checkpoint_every=2, resume=True)
    assert resumed.summary["resumed_from_block"] == 2
    _assert_same_results(full[0], resumed)


def test_resuming_a_finished_run_returns_it_and_rewrites_nothing(full, tmp_path):
    """A complete run is read-only data: resume returns what it saved and every file stays byte-identical
    (it used to rewrite summary.json, with env_steps_per_second 0.0)."""
    out = _copy(full[1], tmp_path)
    before = _snapshot(out)
    again = run_sweep(out_dir=out, resume=True)
    assert _snapshot(out) == before
    assert again.from_disk
    assert again.summary == io.read_json(out / "summary.json")
    _assert_same_results(full[0], again)  # the state comes from the final checkpoint
    np.testing.assert_array_equal(again.env_steps, full[0].env_steps)


def test_resuming_a_finished_run_without_a_final_checkpoint_rewrites_nothing(full, tmp_path):
    """`checkpoint_every=0`: no checkpoint holds the final state, so the state is None; the files stay."""
    out = tmp_path / "run"
    run_sweep(out_dir=out, checkpoint_every=0)
    assert not (out / "checkpoints").exists()
    before = _snapshot(out)
    again = run_sweep(out_dir=out, checkpoint_every=0, resume=True)
    assert _snapshot(out) == before
    assert again.state is None and again.from_disk
    assert trees_equal(again.metrics, full[0].metrics)


def test_cli_resume_of_a_finished_run_says_so_and_rewrites_nothing(full, tmp_path, fast_cli, capsys):
    out = _copy(full[1], tmp_path)
    before = _snapshot(out)
    assert cli.main(_train_argv(out, "--resume")) == 0
    assert "already holds this run, complete: nothing was run or rewritten" in capsys.readouterr().out
    assert _snapshot(out) == before


@pytest.mark.parametrize("stop_after", [1, 2])
def test_stopping_early_checkpoints_even_with_checkpoint_every_0(full, tmp_path, stop_after):
    """`checkpoint_every=0` means no periodic checkpoints, but a run stopped early still saves the chunk
    where it stops (it used to save nothing, and the resume restarted from block 0)."""
    out = tmp_path / "run"
    run_sweep(out_dir=out, checkpoint_every=0, stop_after_chunks=stop_after)
    assert sorted(int(p.name) for p in (out / "checkpoints").iterdir()) == [stop_after]
    resumed = run_sweep(out_dir=out, checkpoint_every=0, resume=True)
    assert resumed.summary["resumed_from_block"] == stop_after
    _assert_same_results(full[0], resumed)
    assert sorted(int(p.name) for p in (out / "checkpoints").iterdir()) == [stop_after]  # none added


def test_resume_into_an_empty_directory_starts_the_run(full, tmp_path):
    """A requeued job can always pass resume=True: with nothing saved it starts from scratch."""
    fresh = run_sweep(out_dir=tmp_path / "new", resume=True)
    assert fresh.summary["resumed_from_block"] is None
    _assert_same_results(full[0], fresh)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"num_seeds": 3}, "num_seeds: saved 2, now 3"),
        ({"seed": 7}, "seed: saved 0, now 7"),
        ({"config_field": ("num_envs", 4)}, "config.num_envs: saved 2, now 4"),
        ({"hparam": ("gamma", 0.9)}, "hparams.gamma"),
    ],
)
def test_resume_refuses_a_different_run_and_changes_nothing(stopped, tmp_path, change, expected):
    import dataclasses

    from tests._tiny_ppo import NUM_SEEDS, TINY_CONFIG, sweep_hparams

    out = _copy(stopped, tmp_path)
    before = _snapshot(out)
    hparams, settings = sweep_hparams()
    config, num_seeds, seed = TINY_CONFIG, NUM_SEEDS, 0
    if "num_seeds" in change:
        num_seeds = change["num_seeds"]
    if "seed" in change:
        seed = change["seed"]
    if "config_field" in change:
        name, value = change["config_field"]
        config = dataclasses.replace(config, **{name: value})
    if "hparam" in change:
        name, value = change["hparam"]
        hparams = hparams._replace(**{name: np.full(2, value, np.float32)})
    with pytest.raises(ValueError, match="cannot resume") as err:
        runner.run(
            config,
            hparams,
            num_seeds,
            seed=seed,
            sweep_settings=settings,
            out_dir=out,
            resume=True,
            progress=False,
            compiler_options=FAST_COMPILE,
        )
    assert expected in str(err.value)
    assert _snapshot(out) == before


def _damage_arrays(step_dir: Path) -> None:
    for path in (step_dir / "arrays").rglob("d/*"):
        if path.is_file():
            with open(path, "r+b") as f:
                f.seek(8)
                f.write(b"\x00garbage" * 16)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda out: _damage_arrays(out / "checkpoints" / "2"), "is corrupt or unreadable"),
        (lambda out: (out / "checkpoints" / "2" / "meta" / "metadata").write_text("{not json"), "corrupt"),
        (lambda out: (out / "checkpoint_metrics" / "2.npz").write_bytes(b"PK\x03\x04junk"), "metrics of"),
        (lambda out: (out / "checkpoint_metrics" / "2.npz").unlink(), "missing or unreadable"),
        (lambda out: _edit_meta(out, record_sha256="0" * 64), "record_sha256 differs"),
        (lambda out: _edit_meta(out, num_blocks=7), "num_blocks is 7"),
        (lambda out: _edit_meta(out, format=99), "not a purerl format-1 checkpoint"),
        (lambda out: (out / "config.json").write_text("{"), "config.json is unreadable"),
    ],
    ids=["arrays", "meta", "metrics-npz", "metrics-missing", "foreign", "layout", "format", "config-json"],
)
# Orbax's restore of damaged arrays fails inside its asyncio loop and leaves a callback that reports the
# closed loop when garbage-collected; that is orbax-internal and harmless here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_corrupt_or_foreign_checkpoint_is_refused_and_nothing_overwritten(
    stopped, tmp_path, damage, expected
):
    out = _copy(stopped, tmp_path)
    damage(out)
    before = _snapshot(out)
    with pytest.raises(ValueError) as err:
        run_sweep(out_dir=out, resume=True)
    assert expected in str(err.value)
    assert _snapshot(out) == before


def _edit_meta(out: Path, **changes: Any) -> None:
    """A checkpoint of another run: edited metadata, with its digest updated so the files are intact."""
    path = out / "checkpoints" / "2" / "meta" / "metadata"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))
    digests_path = out / "checkpoint_metrics" / "2.sha256.json"
    digests = io.read_json(digests_path)
    digests["meta/metadata"] = hashlib.sha256(path.read_bytes()).hexdigest()
    io.write_json(digests_path, digests)


def test_a_damaged_checkpoint_is_named_by_its_digest_before_orbax_reads_it(stopped, tmp_path, monkeypatch):
    out = _copy(stopped, tmp_path)
    _damage_arrays(out / "checkpoints" / "2")

    def no_orbax(*args, **kwargs):
        raise AssertionError("orbax was asked to restore a checkpoint whose digest does not match")

    monkeypatch.setattr(orbax.checkpoint.CheckpointManager, "restore", no_orbax)
    with pytest.raises(ValueError, match=r"changed since it was saved \(SHA-256 mismatch\)"):
        run_sweep(out_dir=out, resume=True)


def test_checkpoint_holds_raw_key_data_and_npz_without_pickles(stopped):
    meta = json.loads((stopped / "checkpoints" / "2" / "meta" / "metadata").read_text())
    assert meta["next_block"] == 2 and meta["chunk_blocks"] == 1 and meta["num_runs"] == 4
    with np.load(stopped / "checkpoint_metrics" / "2.npz", allow_pickle=False) as saved:
        assert all(saved[k].dtype != object for k in saved.files)
    assert io.read_json(stopped / "config.json")["num_seeds"] == 2


# ----------------------------------------------------------------------------------------------------
# The command line


@pytest.fixture
def fast_cli(monkeypatch):
    """The CLI's `run`, compiled with the suite's fast options so it shares the cached program."""
    monkeypatch.setattr(runner, "run", functools.partial(runner.run, compiler_options=FAST_COMPILE))


def _train_argv(out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "ppo",
        "--env=CartPole-v1",
        *TINY_CLI_SETS,
        "--sweep=learning_rate=0.00025,1e30",
        "--seeds=2",
        f"--chunks={NUM_CHUNKS}",
        f"--out={out}",
        "--no-progress",
        *extra,
    ]


def test_cli_stop_then_resume(full, tmp_path, fast_cli, capsys):
    out = tmp_path / "run"
    assert cli.main(_train_argv(out, "--stop-after-chunks=2")) == 0
    assert "stopped after block 2 of 4: continue with --resume" in capsys.readouterr().out
    assert cli.main(_train_argv(out, f"--resume={out}")) == 0
    printed = capsys.readouterr().out
    assert "resumed at block 2" in printed and "2 of 4 runs diverged" in printed
    with np.load(out / "metrics.npz", allow_pickle=False) as a, np.load(full[1] / "metrics.npz") as b:
        assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in b.files)
    # Without --resume (or --overwrite) the finished run is protected.
    assert cli.main(_train_argv(out)) == 2
    assert "already holds this run; pass resume=True (--resume)" in capsys.readouterr().err
    assert cli.main(_train_argv(out, "--seeds=3", "--resume")) == 2
    assert "num_seeds: saved 2, now 3" in capsys.readouterr().err


def test_cli_stop_with_checkpoint_every_0_then_resume(full, tmp_path, fast_cli, capsys):
    out = tmp_path / "run"
    assert cli.main(_train_argv(out, "--checkpoint-every=0", "--stop-after-chunks=2")) == 0
    assert "continue with --resume" in capsys.readouterr().out
    assert cli.main(_train_argv(out, "--checkpoint-every=0", "--resume")) == 0
    assert "resumed at block 2" in capsys.readouterr().out
    with np.load(out / "metrics.npz", allow_pickle=False) as a, np.load(full[1] / "metrics.npz") as b:
        assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in b.files)


def test_cli_overwrite_replaces_a_different_run(full, tmp_path, fast_cli, capsys):
    out = _copy(full[1], tmp_path)
    assert cli.main(_train_argv(out, "--seed=5")) == 2
    assert "already holds a different run" in capsys.readouterr().err
    assert cli.main(_train_argv(out, "--seed=5", "--overwrite", "--stop-after-chunks=1")) == 0
    assert io.read_json(out / "config.json")["seed"] == 5
    assert not (out / "summary.json").exists()  # the old run's results went with it
    assert sorted(int(p.name) for p in (out / results.CHECKPOINT_DIR).iterdir()) == [1]


def test_ctrl_c_says_where_the_checkpoint_is_and_the_command_resumes(full, tmp_path, fast_cli, capsys):
    out = tmp_path / "run"
    save = runner.Checkpoints.save

    def save_then_interrupt(self, step, *args, **kwargs):
        save(self, step, *args, **kwargs)
        if step == 2:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner.Checkpoints, "save", save_then_interrupt)
        assert cli.main(_train_argv(out)) == 130
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err  # one line
    assert f"the last checkpoint is {out / 'checkpoints' / '2'}" in err, err
    command = err.split("continue with: ", 1)[1]
    assert command.startswith("purerl train ppo") and command.endswith(" --resume"), err
    assert cli.main(shlex.split(command)[1:]) == 0
    assert "resumed at block 2" in capsys.readouterr().out
    with np.load(out / "metrics.npz", allow_pickle=False) as a, np.load(full[1] / "metrics.npz") as b:
        assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in b.files)


def test_a_full_disk_ends_with_one_line_and_the_run_resumes(full, tmp_path, fast_cli, capsys):
    out = tmp_path / "run"
    save_npz = io.save_npz
    calls = []

    def disk_full_on_the_third_write(path, **arrays):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return save_npz(path, **arrays)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(io, "save_npz", disk_full_on_the_third_write)
        assert cli.main(_train_argv(out)) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("purerl: error: No space left on device (") and err.count("\n") == 0, err
    assert "the last checkpoint is" in err and "--resume" in err, err
    assert cli.main(_train_argv(out, "--resume")) == 0
    assert "resumed at block 2" in capsys.readouterr().out
