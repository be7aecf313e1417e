"""The tiny causal transformer: parameter count, causality, the KV-cache sampler against full recompute."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.reasoning.transformer import (
    Samples,
    TransformerConfig,
    features,
    init_params,
    logits,
    sample,
    sample_full_recompute,
)

CONFIG = TransformerConfig(vocab_size=16, max_len=20, num_layers=2, d_model=16, num_heads=2, mlp_ratio=2)
BATCH, PROMPT_LEN, NUM_TOKENS = 6, 5, 12
PAD, EOS = 0, 1


def _params(key: jax.Array) -> dict:
    """Parameters with the eos logit raised so that most rows stop early, and some do not."""
    params = init_params(key, CONFIG)
    bias = params["head"]["bias"]
    return {**params, "head": {**params["head"], "bias": bias.at[EOS].add(1.5)}}


@pytest.fixture(scope="module")
def params():
    return _params(jax.random.key(0))


@pytest.fixture(scope="module")
def prompts():
    return jax.random.randint(jax.random.key(1), (BATCH, PROMPT_LEN), 2, CONFIG.vocab_size, jnp.int32)


@functools.cache
def sampler(cached: bool, top_k: int):
    """A jitted sampler, shared by the tests (one compile each); temperature is traced."""
    fn = sample if cached else sample_full_recompute

    def run(key, params, prompts, temperature):
        kwargs = {"temperature": temperature, "top_k": top_k, "eos_id": EOS, "pad_id": PAD}
        return fn(key, params, CONFIG, prompts, NUM_TOKENS, **kwargs)

    return jax.jit(run)


def _np(samples: Samples) -> Samples:
    return Samples(*(np.asarray(x) for x in samples))


@pytest.mark.parametrize(
    "config",
    [CONFIG, TransformerConfig(48, 72), TransformerConfig(7, 9, num_layers=1, d_model=12, num_heads=3)],
)
def test_num_params_is_the_size_of_the_param_tree(config):
    params = init_params(jax.random.key(0), config)
    assert config.num_params() == sum(x.size for x in jax.tree.leaves(params))
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(params))


def test_flops_per_token_by_hand():
    # Default config, V = 48, context 72: 2 layers x (3 + 1 + 4 + 4) 64^2 + 64 x 48 matmul weights.
    weights = 2 * 12 * 64 * 64 + 64 * 48
    assert TransformerConfig(48, 72).flops_per_token(72) == 2 * weights + 4 * 2 * 72 * 64


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"vocab_size": 0}, "vocab_size"),
        ({"max_len": -1}, "max_len"),
        ({"num_layers": 0}, "num_layers"),
        ({"d_model": 0}, "d_model"),
        ({"num_heads": 0}, "num_heads"),
        ({"mlp_ratio": 0}, "mlp_ratio"),
        ({"d_model": 30, "num_heads": 4}, "d_model"),
        ({"d_model": 12, "num_heads": 4}, "num_heads"),  # head dim 3 is odd: no rotary pairs
    ],
)
def test_bad_config_raises_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        TransformerConfig(**{"vocab_size": 16, "max_len": 20, **kwargs})


def test_too_long_inputs_are_rejected(params, prompts):
    with pytest.raises(ValueError, match="max_len"):
        logits(params, CONFIG, jnp.zeros((1, CONFIG.max_len + 1), jnp.int32))
    with pytest.raises(ValueError, match="max_len"):
        sample(jax.random.key(0), params, CONFIG, prompts, CONFIG.max_len, eos_id=EOS, pad_id=PAD)


def test_logits_are_causal_and_the_head_of_features(params):
    tokens = jax.random.randint(jax.random.key(2), (2, CONFIG.max_len), 0, CONFIG.vocab_size, jnp.int32)
    base = np.asarray(logits(params, CONFIG, tokens))
    assert base.shape == (2, CONFIG.max_len, CONFIG.vocab_size)
    for t in (0, 7, CONFIG.max_len - 1):
        other = tokens.at[:, t].set((tokens[:, t] + 1) % CONFIG.vocab_size)
        changed = np.asarray(logits(params, CONFIG, other))
        np.testing.assert_array_equal(changed[:, :t], base[:, :t])
        assert not np.allclose(changed[:, t], base[:, t])
    h = features(params, CONFIG, tokens)
    head = params["head"]
    np.testing.assert_allclose(h @ head["kernel"] + head["bias"], base, atol=1e-5)


@pytest.mark.parametrize(("temperature", "top_k"), [(1.0, 0), (0.7, 3), (0.0, 0)])
def test_kv_cache_sample_equals_full_recompute(params, prompts, temperature, top_k):
    key = jax.random.key(3)
    cached = _np(sampler(True, top_k)(key, params, prompts, temperature))
    full = _np(sampler(False, top_k)(key, params, prompts, temperature))
    assert cached.tokens.shape == (BATCH, NUM_TOKENS) and cached.tokens.dtype == np.int32
    np.testing.assert_array_equal(cached.tokens, full.tokens)
    np.testing.assert_array_equal(cached.mask, full.mask)
    np.testing.assert_allclose(cached.logprobs, full.logprobs, atol=1e-5)
    if top_k:
        # Every sampled token is among the top_k of its step's logits.
        sequence = np.concatenate([np.asarray(prompts), cached.tokens], axis=1)
        step_logits = np.asarray(logits(params, CONFIG, jnp.asarray(sequence)))[:, PROMPT_LEN - 1 : -1]
        rank = (step_logits > np.take_along_axis(step_logits, cached.tokens[..., None], -1)).sum(-1)
        assert (rank[cached.mask > 0] < top_k).all()


def test_sampled_logprobs_are_the_teacher_forced_log_softmax(params, prompts):
    out = _np(sampler(True, 0)(jax.random.key(4), params, prompts, 1.0))
    sequence = jnp.concatenate([prompts, jnp.asarray(out.tokens)], axis=1)
    logp = jax.nn.log_softmax(logits(params, CONFIG, sequence), axis=-1)[:, PROMPT_LEN - 1 : -1]
    expected = np.take_along_axis(np.asarray(logp), out.tokens[..., None], -1)[..., 0]
    np.testing.assert_allclose(out.logprobs, expected * out.mask, atol=1e-5)
    assert (out.logprobs[out.mask == 0] == 0).all()
    # With top-k and a temperature the log-probs are still the policy's own, at temperature 1.
    tempered = _np(sampler(True, 3)(jax.random.key(4), params, prompts, 0.7))
    sequence = jnp.concatenate([prompts, jnp.asarray(tempered.tokens)], axis=1)
    logp = jax.nn.log_softmax(logits(params, CONFIG, sequence), axis=-1)[:, PROMPT_LEN - 1 : -1]
    expected = np.take_along_axis(np.asarray(logp), tempered.tokens[..., None], -1)[..., 0]
    np.testing.assert_allclose(tempered.logprobs, expected * tempered.mask, atol=1e-5)


def test_everything_after_the_first_eos_is_pad_with_mask_zero(params, prompts):
    out = _np(sampler(True, 0)(jax.random.key(5), params, prompts, 1.0))
    stopped = 0
    for tokens, mask in zip(out.tokens, out.mask, strict=True):
        eos = np.flatnonzero(tokens == EOS)
        end = eos[0] + 1 if eos.size else NUM_TOKENS
        stopped += end < NUM_TOKENS
        np.testing.assert_array_equal(mask, np.arange(NUM_TOKENS) < end)
        assert (tokens[end:] == PAD).all()
    assert stopped > 0  # the check above was not vacuous


def test_greedy_is_deterministic_and_top_1_is_greedy(params, prompts):
    greedy = [_np(sampler(True, 0)(jax.random.key(k), params, prompts, 0.0)) for k in (6, 7)]
    np.testing.assert_array_equal(greedy[0].tokens, greedy[1].tokens)
    np.testing.assert_array_equal(greedy[0].logprobs, greedy[1].logprobs)
    top_1 = _np(sampler(True, 1)(jax.random.key(8), params, prompts, 1.0))
    np.testing.assert_array_equal(top_1.tokens, greedy[0].tokens)
    np.testing.assert_allclose(top_1.logprobs, greedy[0].logprobs, atol=1e-6)
    # And sampling at temperature 1 is not greedy.
    sampled = _np(sampler(True, 0)(jax.random.key(6), params, prompts, 1.0))
    assert (sampled.tokens != greedy[0].tokens).any()


def test_vmap_over_seeds_equals_a_loop_and_does_not_recompile(prompts):
    keys = jax.random.split(jax.random.key(9), 3)
    param_keys, sample_keys = keys, jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
    stacked = jax.vmap(_params)(param_keys)
    run = sampler(True, 0)
    vmapped = jax.jit(jax.vmap(run, in_axes=(0, 0, None, None)))
    batched = _np(vmapped(sample_keys, stacked, prompts, 1.0))
    for i in range(3):
        one = _np(run(sample_keys[i], _params(param_keys[i]), prompts, 1.0))
        np.testing.assert_array_equal(batched.tokens[i], one.tokens)
        np.testing.assert_array_equal(batched.mask[i], one.mask)
        np.testing.assert_allclose(batched.logprobs[i], one.logprobs, atol=1e-5)
    assert len({tuple(batched.tokens[i].ravel()) for i in range(3)}) == 3  # seeds differ
    # A second call, with a new temperature and new keys, reuses the compiled program.
    size = vmapped._cache_size()
    vmapped(jax.random.split(jax.random.key(10), 3), stacked, prompts, 0.5)[0].block_until_ready()
    assert vmapped._cache_size() == size == 1
