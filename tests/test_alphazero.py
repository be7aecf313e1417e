"""AlphaZero: the loss by hand, config errors before any compile, the runner's chunks and resume, the
CLI, and (slow) learning tic-tac-toe to perfect play against the exact solver."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl import cli, runner
from purerl.agents import alphazero
from purerl.agents.alphazero import AlphaZeroConfig, AlphaZeroHParams, Sample, alphazero_loss

TINY = dict(
    env_name="TicTacToe",
    num_games=4,
    num_simulations=4,
    batch_size=16,
    buffer_size=256,
    gradient_steps=2,
    hidden_sizes=(16,),
    eval_episodes=4,
)


def test_loss_by_hand():
    """Two moves over 3 actions; the second's illegal action is masked out of the softmax; only the
    first move's outcome is known."""
    logits = jnp.array([[0.0, 0.0, 0.0], [1.0, 5.0, 1.0]])
    batch = Sample(
        obs=None,
        legal=jnp.array([[True, True, True], [True, False, True]]),
        policy=jnp.array([[1.0, 0.0, 0.0], [0.25, 0.0, 0.75]]),
        outcome=jnp.array([1.0, -1.0]),
        known=jnp.array([True, False]),
    )
    value = jnp.array([0.5, 0.9])
    loss, metrics = alphazero_loss(logits, value, batch, vf_coef=2.0)
    policy_loss = (np.log(3.0) + np.log(2.0)) / 2  # CE of uniform over 3, then over the 2 legal moves
    np.testing.assert_allclose(float(metrics["policy_loss"]), policy_loss, rtol=1e-6)
    np.testing.assert_allclose(float(metrics["value_loss"]), 0.25, rtol=1e-6)
    np.testing.assert_allclose(float(loss), policy_loss + 2.0 * 0.25, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"env_name": "Chess"}, "AlphaZeroConfig.env_name: unknown game 'Chess'"),
        ({"env_name": "CartPole-v1"}, "AlphaZeroConfig.env_name: unknown game"),
        ({"env_name": "ConnectFour", "eval_opponent": "solver"}, "eval_opponent='solver' needs"),
        ({"env_params": "sampled"}, "env_params must be 'default' for games"),
        ({"num_simulations": 0}, "num_simulations"),
        ({"network": "transformer"}, "network"),
    ],
)
def test_config_errors_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AlphaZeroConfig(**kwargs)


def test_steps_per_update_follow_the_game():
    config = AlphaZeroConfig(env_name="ConnectFour", num_games=8)
    assert config.moves_per_update == 42 and config.steps_per_update == 8 * 42
    assert AlphaZeroConfig(num_steps=20, num_games=2).steps_per_update == 40


def test_presets_reach_from_python():
    config, hparams = alphazero.SPEC.preset("ConnectFour", num_simulations=8)
    assert config.network == "resnet" and config.num_simulations == 8
    assert isinstance(hparams, AlphaZeroHParams)


@pytest.mark.slow  # compile-heavy: keeps the default suite under 10 minutes
def test_chunks_and_resume_are_bit_identical(tmp_path):
    """Through the runner like every algorithm: a run stopped after one of two chunks and resumed equals
    the uninterrupted run."""
    config = AlphaZeroConfig(total_timesteps=4 * 9 * 4, eval_every=2, **TINY)
    options = dict(num_chunks=2, progress=False)
    full = runner.run(config, AlphaZeroHParams(), 2, **options)
    out = tmp_path / "run"
    runner.run(config, AlphaZeroHParams(), 2, out_dir=out, stop_after_chunks=1, **options)
    resumed = runner.run(config, AlphaZeroHParams(), 2, out_dir=out, resume=True, **options)
    for a, b in zip(jax.tree.leaves(full.metrics), jax.tree.leaves(resumed.metrics), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert resumed.summary["complete"]


@pytest.mark.slow  # compile-heavy: keeps the default suite under 10 minutes
def test_cli_trains_on_a_game(tmp_path, capsys):
    sets = [f"{k}={v}" for k, v in TINY.items() if k != "env_name" and k != "hidden_sizes"]
    args = ["train", "alphazero", "--env", "TicTacToe", "--seeds", "2", "--total-timesteps", "288"]
    args += ["--out", str(tmp_path / "run"), "--no-progress"] + [a for s in sets for a in ("--set", s)]
    assert cli.main(args) == 0
    assert "alphazero" in capsys.readouterr().out
    assert cli.main(["envs"]) == 0
    assert "TicTacToe" in capsys.readouterr().out


@pytest.mark.slow
def test_learns_tictactoe_to_perfect_play():
    """With the tic-tac-toe preset, most seeds lose no game against the exact solver after a few
    minutes of CPU self-play (the defaults' gumbel_scale 1 explores too little and leaves 5-19% lost)."""
    config, hparams = alphazero.SPEC.preset(
        "TicTacToe", total_timesteps=64 * 9 * 300, eval_every=150, eval_opponent="solver", eval_episodes=64
    )
    train = jax.jit(jax.vmap(alphazero.SPEC.make_train(config), in_axes=(0, None)))
    out = train(jax.random.split(jax.random.key(0), 4), hparams)
    final_loss = np.asarray(out.metrics["eval_loss"])[:, -1]
    assert np.mean(final_loss == 0.0) >= 0.75, final_loss
