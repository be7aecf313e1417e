"""Sequence algorithms on the shared loop: config validation, the loop contract (vmap equals a loop, no
recompile), SFT learning a tiny task, GRPO from SFT improving on the verifier, the reward model."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.reasoning import grpo, reward_model, sequence, sft

# One step of one-digit arithmetic, slips off: small enough to learn in a test. Its ~160 problems are
# split by hash, so held-out problems are unseen arithmetic facts that a model this small does not infer:
# learning is checked on the training split.
TINY_TASK = {
    "min_steps": 1,
    "max_steps": 1,
    "start_digits": 1,
    "operand_digits": 1,
    "carry_slip_from": 20,
    "borrow_slip_from": 10,
}
TINY_MODEL = dict(num_layers=1, d_model=32, num_heads=2, eval_problems=64)


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("task", "chess", "unknown task 'chess'"),
        ("task_kwargs", {"max_step": 2}, "Did you mean 'max_steps'"),
        ("d_model", 0, "d_model"),
        ("eval_split", "test", "eval_split"),
        ("eval_every", 10_000, "eval_every"),
    ],
)
def test_bad_config_is_one_line_error(field, value, match):
    with pytest.raises(ValueError, match=match) as err:
        sft.SFTConfig(**{field: value})
    assert "\n" not in str(err.value)


def test_grpo_config_checks_minibatches():
    with pytest.raises(ValueError, match="num_minibatches"):
        grpo.GRPOConfig(batch_size=4, group_size=3, num_minibatches=5)


@pytest.fixture(scope="module")
def sft_run():
    config = sft.SFTConfig(
        task_kwargs=TINY_TASK, num_updates=600, batch_size=32, eval_every=200, **TINY_MODEL
    )
    train = jax.jit(jax.vmap(sft.make_train(config), in_axes=(0, None)))
    keys = jax.random.split(jax.random.key(0), 2)
    out = train(keys, sft.SFTHParams(learning_rate=5e-3))
    return config, train, keys, out


@pytest.mark.slow  # ~40 s each on 2 cores: the default suite must stay under 10 minutes
def test_sft_learns_a_tiny_task(sft_run):
    config, _, _, out = sft_run
    loss = np.asarray(out.metrics["loss"]).reshape(2, -1)
    assert np.all(loss[:, -20:].mean(1) < 0.05 * loss[:, :20].mean(1)), loss[:, -20:].mean(1)
    rate = jax.vmap(lambda k, p: sequence.greedy_pass_rate(k, p, config, "train", 128))
    policy, teacher = rate(jax.random.split(jax.random.key(4), 2), out.state.params)
    np.testing.assert_array_equal(teacher, 1.0)  # slips off: the teacher is always right
    assert np.all(policy >= 0.9), policy


def test_sft_vmap_equals_single_seed_and_no_recompile(sft_run):
    config, train, keys, out = sft_run
    single = jax.jit(sft.make_train(config))(keys[1], sft.SFTHParams(learning_rate=5e-3))
    # Batched and single matmuls may round differently; training amplifies ulps, so compare the start.
    vmapped, alone = np.asarray(out.metrics["loss"][1, 0, :20]), np.asarray(single.metrics["loss"][0, :20])
    np.testing.assert_allclose(vmapped, alone, rtol=1e-4)
    before = train._cache_size()
    train(keys, sft.SFTHParams(learning_rate=1e-3, max_grad_norm=0.5))
    assert train._cache_size() == before


@pytest.mark.slow  # ~40 s each on 2 cores: the default suite must stay under 10 minutes
def test_grpo_from_sft_trains_on_verifier_and_reward_model(sft_run):
    config, _, keys, out = sft_run
    params = out.state.params
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    fields.update(num_updates=6, batch_size=4, eval_every=3)
    rl_config = grpo.GRPOConfig(**fields, group_size=4, num_epochs=2, num_minibatches=2)
    hparams = grpo.GRPOHParams(learning_rate=1e-4)
    rl = jax.jit(jax.vmap(grpo.make_train(rl_config), in_axes=(0, None, 0)))(keys, hparams, params)
    assert rl.metrics["pass_rate"].shape == (2, 2, 3)
    assert np.all(np.isfinite(np.asarray(rl.metrics["clip_fraction"])))
    assert np.asarray(rl.metrics["pass_rate"]).mean() > 0.5  # starts from a policy that solves the task

    task = config.verifiable_task
    problems = task.sample(jax.random.key(1), 64, "train")
    prompts = task.prompts(problems)
    completions = jnp.concatenate(
        [
            task.teacher(jax.random.key(2), problems)[:32],
            prompts[32:, :1].repeat(task.completion_length, axis=1),
        ]
    )
    labels = task.verify(problems, completions)
    data = reward_model.Labelled(prompts, completions, labels)
    rm_params, _ = jax.jit(
        lambda k: reward_model.train(k, config.model, reward_model.RewardModelHParams(), data, 60, 32)
    )(jax.random.key(3))
    assert reward_model.accuracy(rm_params, config.model, data) > 0.9
    rm_config = dataclasses.replace(rl_config, reward="model")
    rm_train = jax.jit(jax.vmap(grpo.make_train(rm_config), in_axes=(0, None, 0, None)))
    rm_run = rm_train(keys, hparams, params, rm_params)
    reward = np.asarray(rm_run.metrics["reward"])
    assert np.all((reward > 0) & (reward < 1))
    with pytest.raises(ValueError, match="reward_params"):
        grpo.make_train(rm_config)(keys[0], hparams, jax.tree.map(lambda x: x[0], params))


def test_pass_at_k_of_a_trained_policy(sft_run):
    config, _, _, out = sft_run
    params = jax.tree.map(lambda x: x[0], out.state.params)
    curve = sequence.pass_at_k_curve(jax.random.key(5), params, config, "train", 16, 8, (1, 2, 8))
    assert np.all(np.diff(np.asarray(curve)) >= -1e-6) and curve[0] > 0.8
