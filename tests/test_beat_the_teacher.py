"""The beat-the-teacher experiment: its teachers' state-dependent flaws, per-seed lock codes, and (slow)
its whole `--quick` pipeline."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl import demonstrations, envs, teachers
from purerl.agents import bc
from purerl.envs.chain import CombinationLockParams
from purerl.loop import make_train_fn
from tests.experiment_scripts import load_experiment

LOCK = "CombinationLock-v0"


@pytest.fixture(scope="module")
def module():
    return load_experiment("beat_the_teacher")


def progress_obs(progress: int, length: int) -> jax.Array:
    return jax.nn.one_hot(progress, length + 1, dtype=jnp.float32)


def actions_at(teacher, progress: int, length: int, num: int = 200) -> np.ndarray:
    keys = jax.random.split(jax.random.key(progress), num)
    obs = progress_obs(progress, length)
    return np.asarray(jax.vmap(lambda k: teacher(k, obs)[0])(keys))


def test_flawed_lock_teacher_presses_the_wrong_button_exactly_at_its_flawed_stages():
    code = jnp.array([0, 3, 1, 2], jnp.int32)
    flawed = jnp.array([False, True, False, True])
    # flaw_rate 1: deterministic, so every stage can be checked by hand.
    teacher = teachers.combination_lock(code, 4, lapse=0.0, flawed=flawed, flaw_rate=1.0)
    expected = [0, 0, 1, 3]  # stages 1 and 3 press code + 1 mod 4: 3 -> 0, 2 -> 3
    for progress in range(4):
        np.testing.assert_array_equal(actions_at(teacher, progress, 4), expected[progress])
    # flaw_rate 0.75: at a flawed stage the wrong button is the mode, elsewhere it never errs.
    teacher = teachers.combination_lock(code, 4, lapse=0.0, flawed=flawed, flaw_rate=0.75)
    for progress in range(4):
        acts = actions_at(teacher, progress, 4, num=400)
        if bool(flawed[progress]):
            assert set(np.unique(acts)) == {int(code[progress]), expected[progress]}
            assert 0.65 < np.mean(acts == expected[progress]) < 0.85
        else:
            np.testing.assert_array_equal(acts, int(code[progress]))


def test_no_flaws_and_no_lapse_is_the_old_perfect_teacher():
    code = jnp.array([2, 1, 0], jnp.int32)
    teacher = teachers.combination_lock(code, 4, lapse=0.0)
    for progress in range(3):
        np.testing.assert_array_equal(actions_at(teacher, progress, 3, num=20), int(code[progress]))
    with pytest.raises(ValueError, match="flawed"):
        teachers.combination_lock(code, 4, flawed=jnp.zeros(4, bool))


def test_sample_lock_flaws_sets_exactly_k_stages():
    keys = jax.random.split(jax.random.key(0), 16)
    for k in range(5):
        masks = np.asarray(jax.vmap(lambda key, k=k: teachers.sample_lock_flaws(key, 4, k))(keys))
        np.testing.assert_array_equal(masks.sum(axis=1), k)
    masks = np.asarray(jax.vmap(lambda key: teachers.sample_lock_flaws(key, 6, 2))(keys))
    assert len({tuple(m) for m in masks}) > 1  # the flawed stages differ across seeds


def test_greedy_imitation_of_a_flawed_teacher_does_not_open_the_lock_but_sampling_does():
    """The mode of the teacher's action distribution (what greedy BC converges to) fails at the flawed
    stage every time; sampling it still gets through, and so does the teacher."""
    env, params = envs.make(LOCK, length=4)
    flawed = jnp.array([False, False, True, False])
    teacher = teachers.combination_lock(params.code, 4, lapse=0.0, flawed=flawed, flaw_rate=0.75)
    wrong = (params.code + 1) % 4

    def greedy(key, obs):  # the teacher's per-state mode
        progress = jnp.minimum(jnp.argmax(obs), 3)
        return jnp.where(flawed[progress], wrong[progress], params.code[progress]), {}

    run = jax.jit(
        lambda k, policy: demonstrations.evaluate_episodes(k, env, params, policy, 64), static_argnums=1
    )
    assert float(run(jax.random.key(1), greedy).terminated.mean()) == 0.0
    assert float(run(jax.random.key(1), teacher).terminated.mean()) > 0.3


def test_mountain_car_dead_zone_severity_is_graded_and_traceable():
    env, params = envs.make("MountainCar-v0")

    def success(key, dead_zone):
        teacher = teachers.mountain_car(lapse=0.0, dead_zone=dead_zone)  # traced dead zone
        return demonstrations.evaluate_episodes(key, env, params, teacher, 64).terminated.mean()

    rates = np.asarray(
        jax.jit(jax.vmap(success, (None, 0)))(jax.random.key(0), jnp.array([0.0, 0.005, 0.02]))
    )
    assert rates[0] == 1.0 and rates[0] > rates[1] > rates[2]
    assert rates[2] == 0.0


def test_each_seed_has_its_own_code_and_its_teacher_opens_only_its_own_lock(module):
    family = module.Family("lock", LOCK, (("length", 5),), "flawed stages", (0.0,), 512, 0.0)
    budget = module.Budget(4, (5,), (0,), (0.0,), 512, 512, 2, 1, 1, 8)
    prog = module.Programs(family, budget)
    keys = jax.random.split(jax.random.key(3), 4)
    codes = np.asarray(jax.vmap(prog.env_params_of)(keys).code)
    assert len({tuple(c) for c in codes}) == 4  # a fresh code per seed

    def own_and_other(key, own, other):
        params_own, params_other = CombinationLockParams(own), CombinationLockParams(other)
        teacher = module.make_teacher(family, params_own, prog.spec, key, jnp.float32(0.0))
        return prog.success(key, params_own, teacher)[0], prog.success(key, params_other, teacher)[0]

    own, other = jax.jit(jax.vmap(own_and_other))(
        keys, jnp.asarray(codes), jnp.roll(jnp.asarray(codes), 1, 0)
    )
    np.testing.assert_array_equal(np.asarray(own), 1.0)  # evaluation plays the seed's own code
    assert float(np.asarray(other).max()) < 1.0


def test_given_env_params_reach_the_trained_agent():
    """`env_params="given"`: each run's params are its first init argument and stay in its state."""
    config = bc.BCConfig(
        env_name=LOCK,
        env_kwargs={"length": 3},
        env_params="given",
        num_updates=2,
        eval_every=2,
        eval_episodes=2,
    )
    agent = bc.SPEC.make_agent(config)
    env, _ = envs.make(LOCK, length=3)
    codes = jnp.array([[0, 1, 2], [3, 3, 0]], jnp.int32)
    keys = jax.random.split(jax.random.key(0), 2)

    def demos_for(key, code):
        params = CombinationLockParams(code)
        return demonstrations.collect(key, env, params, teachers.combination_lock(code, 4, lapse=0.0), 2, 6)

    demos = jax.vmap(demos_for)(keys, codes)
    train = jax.vmap(make_train_fn(agent), in_axes=(0, None, 0, 0))
    out = jax.jit(train)(keys, bc.BCHParams(), CombinationLockParams(codes), demos)
    np.testing.assert_array_equal(np.asarray(out.state.env_params.code), np.asarray(codes))
    with pytest.raises(ValueError, match="given"):
        agent.init(keys[0], bc.BCHParams())


def test_first_step_counts_env_steps_to_the_first_hit(module):
    hit = jnp.array([[False, False], [False, True], [True, True]])
    assert int(module.first_step(hit, 2)) == 4  # row 1 ends after 2 rows x 2 envs
    assert int(module.first_step(jnp.zeros((3, 2), bool), 2)) == -1
    summary = module.signal_summary(np.array([-1, 8, 4, -1]))
    assert summary["fraction_with_signal"] == 0.5 and summary["median_first_step"] == 6.0
    assert summary["per_seed"] == ["never", 8, 4, "never"]


def test_choose_prefers_success_then_return_then_the_first_value(module):
    success = np.array([[0.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    returns = np.array([[0.0, 0.0], [-3.0, -3.0], [-1.0, -1.0]])
    assert module.choose(success, returns) == 2
    assert module.choose(np.zeros((3, 2)), np.zeros((3, 2))) == 0


@pytest.mark.slow
def test_quick_run_writes_report_json_and_figures(module, tmp_path):
    module.main(["--quick", "--out", str(tmp_path)])
    report = (tmp_path / "beat_the_teacher.md").read_text()
    assert "## Verdicts" in report and "Holm" in report and "pilot" in report.lower()
    result = json.loads((tmp_path / "beat_the_teacher.json").read_text())
    assert set(result) >= {"budget", "pilot", "taus", "families", "settings", "wall_seconds"}
    for family in result["families"]:
        assert set(family["chosen_learning_rates"]) == set(module.TRAINED)
        steps = family["env_steps"]
        assert steps["BC -> PPO"] <= steps["PPO (scratch)"]  # scratch gets the demo steps too
    for setting in result["settings"]:
        assert set(setting["per_seed_success"]) == {name for name, _, _ in module.ARMS}
        assert set(setting["first_signal"]) == set(module.TRAINED)
        assert len(setting["profiles"]["BC -> PPO"]["fraction"]) == len(module.TAUS)
        assert len(setting["tests"]) == 14 and isinstance(setting["claim_held"], bool)
    for name in ("beat_the_teacher.png", "beat_the_teacher_curves.png"):
        assert (tmp_path / name).stat().st_size > 10_000
