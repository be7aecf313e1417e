"""Bad input is refused before anything is compiled, with a message naming the field and what is valid.

Tables of malformed command lines, runner arguments, configs and hyperparameters (each message asserted),
results directories that hold another run, the action-space check, and property-based tests of the
environment contract at its boundary (valid, out-of-range and extreme actions; extreme env params).
"""

from __future__ import annotations

import dataclasses
import re
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from purerl import api, cli, io, results, runner
from purerl.agents import algorithms, get_algorithm
from purerl.agents.ppo import PPOConfig, PPOHParams
from purerl.config import field_names
from purerl.envs import make, wrappers
from purerl.loop import make_env
from tests._tiny_ppo import NUM_SEEDS, TINY_CONFIG, sweep_hparams

# ----------------------------------------------------------------------------------------------------
# The command line: `purerl train ...` exits with status 2 and one line saying what is wrong.

CLI_CASES = [
    (["--set", "num_envs"], "--set expects FIELD=VALUE, got 'num_envs'"),
    (["--set", "=4"], "--set expects FIELD=VALUE"),
    (["--set", "num_env=4"], "unknown ppo field 'num_env'. Did you mean 'num_envs'"),
    (["--set", "learning_rat=1e-3"], "Did you mean 'learning_rate'"),
    (["--set", "num_envs=abc"], "--set num_envs='abc': expected an integer"),
    (["--set", "num_envs=2.5"], "--set num_envs='2.5': expected an integer"),
    (["--set", "num_envs=0"], "PPOConfig.num_envs must be a positive integer, got 0"),
    (["--set", "anneal_lr=maybe"], "--set anneal_lr='maybe': expected true/false"),
    (["--set", "hidden_sizes=64,x"], "expected comma-separated integers"),
    (["--set", "hidden_sizes=0"], "PPOConfig.hidden_sizes must be a non-empty sequence of positive integers"),
    (["--set", "network=rnn"], "PPOConfig.network must be one of ('mlp', 'minatar_cnn')"),
    (["--set", "activation=sigmoid"], "PPOConfig.activation must be one of"),
    (["--set", "num_minibatches=3"], "PPOConfig.num_minibatches=3 must divide the batch"),
    (["--set", "eval_every=-1"], "PPOConfig.eval_every must be an integer >= 0 (0 = automatic)"),
    (["--set", "init_log_std=inf"], "PPOConfig.init_log_std must be a finite number"),
    (["--set", "env_kwargs={bad json"], "--set env_kwargs='{bad json': invalid JSON"),
    (["--set", "learning_rate=-1"], "PPOHParams.learning_rate must be in (0.0, inf]"),
    (["--set", "learning_rate=fast"], "--set learning_rate='fast': expected a number"),
    (["--set", "gamma=1.5"], "PPOHParams.gamma must be in [0.0, 1.0], got 1.5"),
    (["--set", "gae_lambda=nan"], "PPOHParams.gae_lambda must be finite"),
    (["--total-timesteps", "10"], "PPOConfig.total_timesteps=10 is smaller than one update"),
    (["--total-timesteps", "0"], "--total-timesteps must be a positive integer"),
    (["--sweep", "learning_rate="], "--sweep learning_rate: no values given"),
    (["--sweep", "learning_rate=1e-3;3e-3"], "--sweep learning_rate: expected comma-separated numbers"),
    (["--sweep", "num_envs=2,4"], "config fields change shapes: run them as separate jobs"),
    (["--sweep", "lr=1e-3"], "unknown ppo hyperparameter 'lr'"),
    (["--sweep", "gamma=0.9,1.2"], "PPOHParams.gamma must be in [0.0, 1.0], got [0.9, 1.2]"),
    (["--sweep", "gamma=0.9", "--sweep", "gamma=0.99"], "--sweep gamma is given twice"),
    (["--sweep", "gamma"], "--sweep expects FIELD=VALUE"),
    (["--total-timesteps", str(10**23)], "PPOConfig.total_timesteps must be at most 2**31 - 1 (int32)"),
    (["--set", "total_timesteps=1e23"], "PPOConfig.total_timesteps must be at most 2**31 - 1 (int32)"),
    (["--set", "num_envs=1e12"], "PPOConfig.num_envs must be at most 2**31 - 1 (int32), got 1e+12"),
    (["--set", "env_name=Acrobot-v1"], "--set env_name: give it as --env, not as --set"),
    (["--total-timesteps", "5000", "--set", "total_timesteps=6000"], "already given as --total-timesteps"),
    (["--set", "gamma=0.9", "--set", "gamma=0.99"], "--set gamma is given twice: give each field once"),
    (["--seeds", str(10**9)], "this run needs at least"),
    (["--seeds", "3000000000"], "num_seeds must be an integer in [1, 2147483648) (run indices are int32)"),
    (["--seeds", "0"], "--seeds must be a positive integer, got 0"),
    (["--seed", "-1"], "--seed must be in [0, 2**32), got -1"),
    (["--seed", str(2**32)], "--seed must be in [0, 2**32)"),
    (["--chunks", "0"], "--chunks must be a positive integer"),
    (["--checkpoint-every", "-1"], "--checkpoint-every must be >= 0 (0 = only when --stop-after-chunks"),
    (["--keep-checkpoints", "0"], "--keep-checkpoints must be a positive integer"),
    (["--stop-after-chunks", "0"], "--stop-after-chunks must be a positive integer"),
    (["--stop-after-chunks", "2"], "--stop-after-chunks needs --out"),
    (["--resume"], "--resume needs the run's results directory"),
    (
        ["--resume", "runs/a", "--out", "runs/b"],
        "--resume runs/a and --out runs/b name different directories",
    ),
    (["--out", "runs/a", "--resume", "--overwrite"], "--resume and --overwrite exclude each other"),
    (["--num-processes", "2", "--process-id", "0"], "--num-processes, --process-id only apply with --dist"),
    (["--distributed", "--num-processes", "0"], "--num-processes must be a positive integer, got 0"),
    (["--distributed", "--num-processes", "2", "--process-id", "2"], "--process-id must be in [0, 2)"),
    (["--distributed", "--process-id", "-1"], "--process-id must be >= 0"),
]


@pytest.mark.parametrize(("extra", "expected"), CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES])
def test_malformed_command_lines_are_refused(extra, expected, capsys):
    start = time.perf_counter()
    assert cli.main(["train", "ppo", "--env", "CartPole-v1", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("purerl: error: ") and err.count("\n") == 1, err  # one line, no traceback
    assert expected in err, err
    # Refused before compiling anything (a compile of even the tiny program takes many seconds).
    assert time.perf_counter() - start < 30


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "pp0", "--env", "CartPole-v1"], "unknown algorithm 'pp0'. Did you mean 'ppo'"),
        (["train", "ppo", "--env", "CartPol-v1"], "--env: unknown environment 'CartPol-v1'. Did you mean"),
        (["train", "sac", "--env", "CartPole-v1"], "sac does not support discrete action spaces"),
    ],
)
def test_unknown_names_and_action_spaces_from_the_cli(argv, expected, capsys):
    assert cli.main(argv) == 2
    assert expected in capsys.readouterr().err


def test_wrong_action_space_names_the_algorithms_that_fit():
    with pytest.raises(ValueError) as err:
        make_env(PPOConfig(env_name="Pendulum-v1"), "dqn", ("discrete",))
    message = str(err.value)
    assert "dqn does not support continuous action spaces, but Pendulum-v1 has Box" in message
    fitting = message.split("Algorithms for continuous actions: ")[1].split(", ")
    assert {"ppo", "sac", "td3"} <= set(fitting) and "dqn" not in fitting
    with pytest.raises(ValueError, match=r"Algorithms for discrete actions: .*ppo"):
        make_env(PPOConfig(env_name="CartPole-v1"), "sac", ("continuous",))


# ----------------------------------------------------------------------------------------------------
# Configs and hyperparameters (Python API)

CONFIG_CASES = [
    ({"env_name": "Nope-v0"}, "PPOConfig.env_name: unknown environment 'Nope-v0'"),
    ({"env_name": 3}, "PPOConfig.env_name: unknown environment '3'"),
    ({"total_timesteps": 0}, "PPOConfig.total_timesteps must be a positive integer"),
    ({"num_envs": -1}, "PPOConfig.num_envs must be a positive integer, got -1"),
    ({"num_envs": 2.0}, "PPOConfig.num_envs must be a positive integer, got 2.0"),
    ({"num_envs": True}, "PPOConfig.num_envs must be a positive integer, got True"),
    ({"num_steps": 0}, "PPOConfig.num_steps must be a positive integer"),
    ({"num_epochs": 0}, "PPOConfig.num_epochs must be a positive integer"),
    ({"num_minibatches": 0}, "PPOConfig.num_minibatches must be a positive integer"),
    ({"num_minibatches": 3}, "PPOConfig.num_minibatches=3 must divide the batch num_envs * num_steps = 512"),
    ({"total_timesteps": 100}, "PPOConfig.total_timesteps=100 is smaller than one update"),
    ({"network": "rnn"}, "PPOConfig.network must be one of ('mlp', 'minatar_cnn'), got 'rnn'"),
    (
        {"hidden_sizes": ()},
        "PPOConfig.hidden_sizes must be a non-empty sequence of positive integers, got ()",
    ),
    ({"hidden_sizes": (64, 0)}, "PPOConfig.hidden_sizes must be a non-empty sequence of positive integers"),
    ({"hidden_sizes": (True,)}, "PPOConfig.hidden_sizes must be a non-empty sequence of positive integers"),
    (
        {"hidden_sizes": "64"},
        "PPOConfig.hidden_sizes must be a non-empty sequence of positive integers, got '64'",
    ),
    ({"activation": "sigmoid"}, "PPOConfig.activation must be one of ('tanh', 'relu', 'gelu', 'silu')"),
    ({"anneal_lr": "no"}, "PPOConfig.anneal_lr must be True or False, got 'no'"),
    ({"normalize_obs": 1}, "PPOConfig.normalize_obs must be True or False"),
    ({"normalize_reward": None}, "PPOConfig.normalize_reward must be True or False"),
    ({"eval_greedy": "yes"}, "PPOConfig.eval_greedy must be True or False"),
    (
        {"init_log_std": float("nan")},
        "PPOConfig.init_log_std must be a finite number in [-inf, inf], got nan",
    ),
    ({"init_log_std": "0"}, "PPOConfig.init_log_std must be a finite number"),
    ({"eval_every": -1}, "PPOConfig.eval_every must be an integer >= 0 (0 = automatic), got -1"),
    ({"eval_every": 10**6}, "PPOConfig.eval_every=1000000 exceeds the number of updates (976)"),
    ({"eval_episodes": 0}, "PPOConfig.eval_episodes must be a positive integer"),
    ({"eval_max_steps": -5}, "PPOConfig.eval_max_steps must be an integer >= 0"),
    ({"env_kwargs": {"nonexistent": 1}}, "PPOConfig.env_kwargs={'nonexistent': 1} do not fit CartPole-v1"),
    ({"env_kwargs": 5}, "PPOConfig.env_kwargs must be a dict or (name, value) pairs"),
]


@pytest.mark.parametrize(("fields", "expected"), CONFIG_CASES, ids=[str(c[0]) for c in CONFIG_CASES])
def test_every_ppo_config_field_is_validated(fields, expected):
    with pytest.raises(ValueError) as err:
        PPOConfig(**fields)
    assert expected in str(err.value)


HPARAM_CASES = [
    ("learning_rate", 0.0, "PPOHParams.learning_rate must be in (0.0, inf], got 0.0"),
    ("learning_rate", "fast", "PPOHParams.learning_rate must be a number"),
    ("gamma", 1.5, "PPOHParams.gamma must be in [0.0, 1.0], got 1.5"),
    ("gae_lambda", -0.1, "PPOHParams.gae_lambda must be in [0.0, 1.0]"),
    ("clip_eps", 0.0, "PPOHParams.clip_eps must be in (0.0, inf]"),
    ("ent_coef", -1.0, "PPOHParams.ent_coef must be in [0.0, inf]"),
    ("vf_coef", float("inf"), "PPOHParams.vf_coef must be finite"),
    ("max_grad_norm", 0.0, "PPOHParams.max_grad_norm must be in (0.0, inf]"),
    ("kl_coef", -1.0, "PPOHParams.kl_coef must be in [0.0, inf]"),
    ("gamma", np.asarray([0.9, 1.1]), "PPOHParams.gamma must be in [0.0, 1.0], got [0.9, 1.1]"),
]


@pytest.mark.parametrize(("field", "value", "expected"), HPARAM_CASES)
def test_every_ppo_hparam_is_validated_by_the_runner(field, value, expected):
    hparams = PPOHParams(**{field: value})
    if np.ndim(value) == 1:
        hparams = jax.tree.map(lambda v: np.full(2, v), PPOHParams())._replace(**{field: value})
    with pytest.raises(ValueError) as err:
        runner.run(TINY_CONFIG, hparams, 2, progress=False)
    assert expected in str(err.value)


@settings(max_examples=200, deadline=None)
@given(
    num_envs=st.integers(-2, 40),
    num_steps=st.integers(-2, 40),
    num_minibatches=st.integers(-2, 40),
    total_timesteps=st.integers(-2, 2000),
)
def test_config_either_builds_consistently_or_names_a_field(
    num_envs, num_steps, num_minibatches, total_timesteps
):
    try:
        config = PPOConfig(
            num_envs=num_envs,
            num_steps=num_steps,
            num_minibatches=num_minibatches,
            total_timesteps=total_timesteps,
        )
    except ValueError as err:
        assert str(err).startswith("PPOConfig.")
        return
    batch = config.num_envs * config.num_steps
    assert batch % config.num_minibatches == 0 and config.total_timesteps >= batch >= 1


# ----------------------------------------------------------------------------------------------------
# Runner arguments


def _run(**overrides):
    hparams, settings_ = sweep_hparams()
    kwargs = {
        "config": TINY_CONFIG,
        "hparams": hparams,
        "num_seeds": NUM_SEEDS,
        "sweep_settings": settings_,
        "progress": False,
        **overrides,
    }
    return runner.run(kwargs.pop("config"), kwargs.pop("hparams"), **kwargs)


RUN_CASES = [
    ({"config": object()}, "object is not the config of a registered algorithm; registered: "),
    ({"hparams": (1.0,)}, "hparams must be a PPOHParams, got tuple"),
    ({"num_seeds": 0}, "num_seeds must be an integer in [1, 2147483648) (run indices are int32), got 0"),
    ({"num_seeds": 2.0}, "num_seeds must be an integer in [1, 2147483648) (run indices are int32), got 2.0"),
    ({"seed": -3}, "seed must be an integer in [0, 4294967296), got -3"),
    ({"num_chunks": 0}, "num_chunks must be an integer >= 1"),
    ({"checkpoint_every": -1}, "checkpoint_every must be an integer >= 0 (0 = only when stopping early)"),
    ({"keep_checkpoints": 0}, "keep_checkpoints must be an integer >= 1"),
    ({"stop_after_chunks": 0}, "stop_after_chunks must be an integer >= 1 or None"),
    ({"resume": True, "overwrite": True, "out_dir": "x"}, "resume and overwrite exclude each other"),
    ({"resume": True}, "resume=True needs the results directory"),
    ({"hparams": PPOHParams(), "sweep_settings": [{}]}, "sweep_settings is given but every hparam"),
    ({"sweep_settings": [{}]}, "sweep_settings has 1 entries for H=2 hparam settings"),
    (
        {"hparams": PPOHParams(gamma=np.ones(3)), "sweep_settings": None},
        "hparams must be all scalars (one setting) or all [H] arrays with the same H",
    ),
    (
        {"hparams": jax.tree.map(lambda v: np.full(2, v), PPOHParams())._replace(gamma=np.ones((2, 2)))},
        "hparams must be all scalars (one setting) or all [H] arrays with the same H",
    ),
    ({"init_args": (np.zeros((3, 2)),)}, "init_args[0] leaves need a leading [num_seeds=2] axis"),
    ({"devices": []}, "devices must not be empty"),
]


# Ids without object addresses, so every pytest-xdist worker collects the same tests.
RUN_IDS = [re.sub(r" at 0x[0-9a-f]+", "", str(c[0]))[:40] for c in RUN_CASES]


@pytest.mark.parametrize(("overrides", "expected"), RUN_CASES, ids=RUN_IDS)
def test_bad_runner_arguments_are_refused(overrides, expected):
    with pytest.raises(ValueError) as err:
        _run(**overrides)
    assert expected in str(err.value)


def _write_record(out, **changes):
    hparams, settings_ = sweep_hparams()
    record = results.run_record("ppo", TINY_CONFIG, hparams, NUM_SEEDS, 0, settings_)
    io.write_json(out / "config.json", {**record, **changes})


def test_a_directory_holding_a_different_run_is_refused(tmp_path):
    _write_record(tmp_path, num_seeds=64)
    with pytest.raises(ValueError, match=r"already holds a different run .*num_seeds: saved 64, now 2"):
        _run(out_dir=tmp_path)
    assert io.read_json(tmp_path / "config.json")["num_seeds"] == 64


def test_a_directory_holding_this_run_needs_resume_or_overwrite(tmp_path):
    _write_record(tmp_path)
    with pytest.raises(ValueError, match=r"already holds this run; pass resume=True \(--resume\)"):
        _run(out_dir=tmp_path)


def test_a_directory_with_an_unreadable_record_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{truncated")
    with pytest.raises(ValueError, match=r"config\.json is unreadable"):
        _run(out_dir=tmp_path)


def test_checkpoints_without_a_record_are_refused(tmp_path):
    (tmp_path / results.CHECKPOINT_DIR / "3").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"holds checkpoints but no config\.json"):
        _run(out_dir=tmp_path)


def test_record_differences_name_nested_fields():
    saved = {"config": {"num_envs": 2, "hidden_sizes": [8]}, "seed": 0}
    now = {"config": {"num_envs": 4, "hidden_sizes": [8]}, "seed": 0, "extra": 1}
    assert results.record_differences(saved, now) == [
        "config.num_envs: saved 2, now 4",
        "extra: not in the saved run, now 1",
    ]


# ----------------------------------------------------------------------------------------------------
# The environment contract at its boundary (property-based)

NUM_STEPS = 12
PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _make_rollout(env, num_steps: int):
    """jit: `(key, actions [T, ...], params) -> TimeSteps [T]` with auto-reset (compiled once per env)."""
    stepping = wrappers.auto_reset(env)

    def rollout(key, actions, params):
        state, _ = stepping.reset(key, params)

        def body(state, xs):
            k, action = xs
            state, ts = stepping.step(k, state, action, params)
            return state, ts

        return jax.lax.scan(body, state, (jax.random.split(key, num_steps), actions))[1]

    return jax.jit(rollout)


def _as_traced_params(params):
    """Env params as float32/int32 arrays, so new values (hypothesis examples) reuse the compiled step."""
    return jax.tree.map(lambda v: jnp.asarray(v, jnp.int32 if isinstance(v, int) else jnp.float32), params)


@pytest.fixture(scope="module")
def cartpole():
    env, params = make("CartPole-v1")
    clipped = wrappers.clip_action(env)
    return env, _as_traced_params(params), _make_rollout(env, NUM_STEPS), _make_rollout(clipped, NUM_STEPS)


@pytest.fixture(scope="module")
def pendulum():
    env, params = make("Pendulum-v1")
    clipped = wrappers.clip_action(env)
    return env, _as_traced_params(params), _make_rollout(env, NUM_STEPS), _make_rollout(clipped, NUM_STEPS)


def _check_timesteps(env, ts) -> None:
    obs = np.asarray(ts.obs)
    assert obs.dtype == np.float32 and obs.shape == (NUM_STEPS, *env.spec.observation_space.shape)
    assert np.isfinite(obs).all()
    assert all(bool(env.spec.observation_space.contains(o)) for o in obs)
    assert np.asarray(ts.reward).dtype == np.float32 and np.isfinite(ts.reward).all()
    assert np.asarray(ts.terminated).dtype == bool and np.asarray(ts.truncated).dtype == bool
    assert not (np.asarray(ts.terminated) & np.asarray(ts.truncated)).any()


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    actions=st.lists(st.integers(0, 1), min_size=NUM_STEPS, max_size=NUM_STEPS),
)
def test_valid_discrete_actions_keep_the_contract(cartpole, seed, actions):
    env, params, rollout, _ = cartpole
    _check_timesteps(env, rollout(jax.random.key(seed), jnp.asarray(actions, jnp.int32), params))


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    actions=st.lists(st.floats(-2.0, 2.0, width=32), min_size=NUM_STEPS, max_size=NUM_STEPS),
)
def test_valid_continuous_actions_keep_the_contract(pendulum, seed, actions):
    env, params, rollout, _ = pendulum
    actions = jnp.asarray(actions, jnp.float32)[:, None]
    _check_timesteps(env, rollout(jax.random.key(seed), actions, params))


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    actions=st.lists(st.integers(-(2**31), 2**31 - 1), min_size=NUM_STEPS, max_size=NUM_STEPS),
)
def test_out_of_range_discrete_actions_are_clipped_at_the_boundary(cartpole, seed, actions):
    """Decision: an action outside `0 .. n-1` acts as the nearest valid action (`wrappers.clip_action`,
    which every agent's env goes through); a jitted step cannot raise."""
    env, params, _, clipped_rollout = cartpole
    key, actions = jax.random.key(seed), jnp.asarray(actions, jnp.int32)
    got = clipped_rollout(key, actions, params)
    # The same compiled program on in-range actions: bit equality is meaningful (two different programs
    # may differ in the last bit on XLA:CPU, see docs/long_runs.md).
    want = clipped_rollout(key, jnp.clip(actions, 0, env.spec.action_space.n - 1), params)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True))
    _check_timesteps(env, got)


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    actions=st.lists(
        st.floats(width=32, allow_nan=False),  # any float32, infinities included
        min_size=NUM_STEPS,
        max_size=NUM_STEPS,
    ),
)
def test_out_of_box_continuous_actions_are_clipped_at_the_boundary(pendulum, seed, actions):
    env, params, _, clipped_rollout = pendulum
    key, actions = jax.random.key(seed), jnp.asarray(actions, jnp.float32)[:, None]
    got = clipped_rollout(key, actions, params)
    want = clipped_rollout(key, jnp.clip(actions, -2.0, 2.0), params)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True))
    _check_timesteps(env, got)


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    max_steps=st.integers(1, NUM_STEPS),
    scale=st.fixed_dictionaries(
        {name: st.floats(1e-3, 1e3) for name in ("gravity", "masscart", "masspole", "force_mag", "tau")}
    ),
)
def test_extreme_cartpole_params_keep_the_contract(cartpole, seed, max_steps, scale):
    """Physics scaled by 1e-3 .. 1e3 and episode limits down to one step: flags stay consistent and the
    time limit truncates exactly at `max_steps` (params are traced numbers, not checked; a NaN they
    produced in training would freeze the run)."""
    _, params, rollout, _ = cartpole
    changed = {name: getattr(params, name) * factor for name, factor in scale.items()}
    changed["total_mass"] = changed["masscart"] + changed["masspole"]
    changed["polemass_length"] = changed["masspole"] * params.length
    params = dataclasses.replace(params, max_steps_in_episode=jnp.int32(max_steps), **changed)
    ts = rollout(jax.random.key(seed), jnp.ones(NUM_STEPS, jnp.int32), params)
    terminated, truncated = np.asarray(ts.terminated), np.asarray(ts.truncated)
    assert not (terminated & truncated).any()
    assert np.isfinite(ts.reward).all()
    ends = np.flatnonzero(terminated | truncated)
    first_end = ends[0] + 1 if ends.size else None
    # The first episode ends by termination before the limit, or by truncation exactly at it.
    assert first_end is not None and first_end <= max_steps
    assert truncated[first_end - 1] == (first_end == max_steps and not terminated[first_end - 1])


@pytest.mark.parametrize(
    "algo", sorted(n for n, spec in algorithms().items() if "hidden_sizes" in field_names(spec.config_cls))
)
def test_every_algorithm_refuses_a_bare_int_for_hidden_sizes_with_a_value_error(algo):
    env = "TicTacToe" if algo == "alphazero" else "CartPole-v1"
    with pytest.raises(ValueError, match=r"hidden_sizes must be a non-empty sequence of positive integers"):
        get_algorithm(algo).preset(env, hidden_sizes=64)


@pytest.mark.parametrize(
    ("sweep", "expected"),
    [
        ({"learning_rate": []}, "sweep 'learning_rate' has no values: give at least one"),
        ({"learning_rate": 1e-3}, "sweep 'learning_rate' must be a list of numbers, got 0.001"),
        ({"learning_rate": "1e-3"}, "sweep 'learning_rate' must be a list of numbers, got '1e-3'"),
        ({"learning_rate": [1e-3, None]}, "must be a list of numbers, got [0.001, None]"),
        ({"lr": [1e-3]}, "cannot sweep 'lr': not a hyperparameter"),
    ],
)
def test_malformed_sweeps_are_refused_by_name(sweep, expected):
    with pytest.raises(ValueError) as err:
        runner.stack_hparams(PPOHParams, PPOHParams(), sweep)
    assert expected in str(err.value)
    with pytest.raises(ValueError) as err:
        api.train("ppo", "CartPole-v1", 2, sweep=sweep, total_timesteps=10_000)
    assert expected in str(err.value)


def test_a_run_whose_state_cannot_fit_is_refused_with_the_estimate_and_the_limit():
    start = time.perf_counter()
    with pytest.raises(ValueError) as err:
        runner.run(TINY_CONFIG, PPOHParams(), 10**9, progress=False)
    message = str(err.value)
    assert "needs at least" in message and "GiB" in message and "available" in message
    assert time.perf_counter() - start < 30  # estimated abstractly: nothing compiled or allocated
