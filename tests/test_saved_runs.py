"""Saved runs: `purerl.train` equals `purerl train`, `load_run` reads a run without writing to it and
gives its final states and policies, `purerl eval` evaluates them and leaves every existing file as it was."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import jax
import numpy as np
import pytest

import purerl
from purerl import cli, io, runner
from purerl.loop import split_run_key
from tests._tiny_ppo import FAST_COMPILE, TINY_CLI_SETS, TINY_CONFIG

SEEDS = 2
TINY_OVERRIDES = {
    name: getattr(TINY_CONFIG, name)
    for name in (
        "num_envs",
        "num_steps",
        "num_epochs",
        "num_minibatches",
        "hidden_sizes",
        "eval_every",
        "eval_episodes",
        "eval_max_steps",
        "total_timesteps",
    )
}


def _digests(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("saved") / "cli"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "run", functools.partial(runner.run, compiler_options=FAST_COMPILE))
        argv = ["train", "ppo", "--env", "CartPole-v1", f"--seeds={SEEDS}", "--no-progress", f"--out={out}"]
        assert cli.main([*argv, "--chunks=2", *TINY_CLI_SETS]) == 0
    return out


def test_python_train_equals_cli_train(cli_run, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "run", functools.partial(runner.run, compiler_options=FAST_COMPILE))
    result = purerl.train(
        "ppo",
        env="CartPole-v1",
        seeds=SEEDS,
        out=str(tmp_path / "api"),
        run_options={"progress": False, "num_chunks": 2},
        **TINY_OVERRIDES,
    )
    with np.load(cli_run / "metrics.npz") as saved:
        assert set(saved.files) == {*result.metrics, "env_steps"}
        for name, value in result.metrics.items():
            np.testing.assert_array_equal(value, saved[name], err_msg=name)
    assert (tmp_path / "api" / "config.json").read_text() == (cli_run / "config.json").read_text()


def test_load_run_reads_everything_and_writes_nothing(cli_run):
    before = _digests(cli_run)
    run = purerl.load_run(cli_run)
    assert _digests(cli_run) == before
    assert run.config == TINY_CONFIG
    assert run.spec.name == "ppo"
    assert run.completed_blocks == run.metrics["eval_return"].shape[1]
    assert run.metrics["eval_return"].shape == (SEEDS, run.completed_blocks)
    assert run.summary["final_return"]["per_seed"] == pytest.approx(
        run.metrics["eval_return"][:, -1].tolist()
    )
    obs = np.zeros((5, 4), np.float32)
    action = run.act(seed=1)(jax.random.key(0), obs)
    assert action.shape == (5,)
    assert _digests(cli_run) == before


def test_saved_states_replay_the_runs_final_evaluation(cli_run):
    """The final evaluation, replayed from the saved state with the run's own key, is the same."""
    run = purerl.load_run(cli_run)
    agent = run.spec.make_agent(run.config)
    seed_keys = jax.random.split(jax.random.key(run.record["seed"]), SEEDS)
    last = run.completed_blocks - 1
    for seed in range(SEEDS):
        _, loop_key = split_run_key(seed_keys[seed])
        eval_key = jax.random.split(jax.random.fold_in(loop_key, last), agent.eval_every + 1)[-1]
        again = jax.jit(agent.evaluate)(eval_key, run.state(seed), run.hparams)["eval_return"]
        np.testing.assert_allclose(again, run.metrics["eval_return"][seed, -1], rtol=1e-5)


def test_eval_command_writes_only_eval_json(cli_run, capsys):
    before = _digests(cli_run)
    assert cli.main(["eval", str(cli_run), "--episodes=4", "--seeds=0,1"]) == 0
    table = capsys.readouterr().out
    assert "eval return IQM" in table and "written to" in table
    after = _digests(cli_run)
    assert set(after) - set(before) == {"eval.json"}
    assert {k: after[k] for k in before} == before
    evaluation = io.read_json(cli_run / "eval.json")
    assert evaluation["episodes"] == 4 and evaluation["seeds"] == [0, 1]
    assert len(evaluation["eval_return"]) == 2
    # A second eval refuses to replace it without --overwrite, in one line.
    assert cli.main(["eval", str(cli_run), "--episodes=4"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["eval", str(cli_run), "--episodes=4", "--overwrite"]) == 0


def test_eval_policy_is_the_runs_own_unless_chosen(cli_run, capsys):
    run = purerl.load_run(cli_run)
    key = jax.random.key(3)
    own = purerl.evaluate_run(run, key, 4)
    assert run.config.eval_greedy and own["policy"] == "greedy"
    assert purerl.evaluate_run(run, key, 4, greedy=True) == own
    # The tiny run's episodes all reach its 8-step cap either way, so check what the agent was built with.
    built = []
    recording = lambda spec, config: built.append(config.eval_greedy) or run.spec.agent_builder(spec, config)
    run_ = run._replace(spec=run.spec._replace(agent_builder=recording))
    sampled = purerl.evaluate_run(run_, key, 4, greedy=False)
    assert sampled["policy"] == "sampled" and built == [False]
    # The CLI writes a chosen policy's result beside eval.json, never over it.
    before = _digests(cli_run)
    assert cli.main(["eval", str(cli_run), "--episodes=4", "--seed=3", "--policy=sampled"]) == 0
    assert "(sampled policy)" in capsys.readouterr().out
    after = _digests(cli_run)
    assert set(after) - set(before) == {"eval_sampled.json"} and {k: after[k] for k in before} == before
    written = io.read_json(cli_run / "eval_sampled.json")
    assert written["eval_return"] == sampled["eval_return"] and written["policy"] == "sampled"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "/nonexistent/run"], "not a purerl run directory"),
        (["eval", "RUN", "--seeds=0,9"], "--seeds must be indices in [0, 2)"),
        (["eval", "RUN", "--seeds=a"], "--seeds expects comma-separated"),
        (["eval", "RUN", "--episodes=0"], "--episodes must be a positive integer"),
    ],
)
def test_eval_bad_input_is_one_line(cli_run, capsys, argv, message):
    argv = [str(cli_run) if a == "RUN" else a for a in argv]
    assert cli.main([*argv, "--overwrite"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
