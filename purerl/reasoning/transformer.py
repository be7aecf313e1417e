"""A tiny causal transformer policy and its KV-cache sampler.

Architecture: token embedding (no learned position table), rotary position embeddings (RoPE, Su et al.,
2021, half-split "NeoX" layout) on queries and keys, `num_layers` pre-LayerNorm blocks (causal multi-head
self-attention, then a GELU MLP of width `mlp_ratio * d_model`), a final LayerNorm and a separate (untied)
output head with bias. Every Dense layer has a bias. float32 throughout, matmuls at full float32 precision
(`HIGHEST`, so an accelerator does not drop to TF32 and the cached and recomputed samplers agree).

There is no padding mask: pad tokens in left-padded prompts are ordinary tokens, as in training; the only
mask is the causal one. `features`, `logits`, the prefill and the cached decoding step all run the same
attention code (`_Block` with an optional cache), so the two paths cannot drift apart.

For the default config with a 48-token vocabulary and `max_len=72` (`TransformerConfig(48, 72)`):
106,288 parameters (`num_params()`), and 239,616 forward FLOPs per token at context 72
(`flops_per_token(72)`: 202,752 in matmuls, 36,864 in attention).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

Params = Any
# Per layer `(keys, values)`, each `[B, C, H, Dh]` with `C` the cache length.
Cache = list[tuple[jax.Array, jax.Array]]

PRECISION = jax.lax.Precision.HIGHEST
ROPE_BASE = 10_000.0


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """Static shape of the transformer.

    Attributes:
        vocab_size: number of token ids.
        max_len: positions the model handles (prompt + completion).
        num_layers: transformer blocks.
        d_model: residual stream width.
        num_heads: attention heads; `d_model / num_heads` is the head dimension (even, for RoPE).
        mlp_ratio: MLP hidden width over `d_model`.
    """

    vocab_size: int
    max_len: int
    num_layers: int = 2
    d_model: int = 64
    num_heads: int = 4
    mlp_ratio: int = 4

    def __post_init__(self) -> None:
        for name in ("vocab_size", "max_len", "num_layers", "d_model", "num_heads", "mlp_ratio"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads})")
        if self.head_dim % 2:
            raise ValueError(f"d_model / num_heads ({self.head_dim}) must be even for rotary embeddings")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads

    def _matmul_weights(self) -> int:
        """Weights that multiply activations in one token's forward: blocks and head (not the lookup)."""
        d, hidden = self.d_model, self.mlp_ratio * self.d_model
        per_layer = d * 3 * d + d * d + d * hidden + hidden * d  # qkv, attention out, MLP in, MLP out
        return self.num_layers * per_layer + d * self.vocab_size

    def num_params(self) -> int:
        """Exact number of parameters (equal to the size of `init_params`' tree)."""
        d, hidden, v = self.d_model, self.mlp_ratio * self.d_model, self.vocab_size
        # Biases of qkv, attention out, MLP in, MLP out, plus two LayerNorms (scale and bias).
        per_layer_vectors = 3 * d + d + hidden + d + 2 * 2 * d
        vectors = self.num_layers * per_layer_vectors + 2 * d + v  # final LayerNorm, head bias
        return v * d + self._matmul_weights() + vectors

    def flops_per_token(self, context: int) -> int:
        """Forward FLOPs for one token attending to `context` keys (2 FLOPs per multiply-add).

        `2 * W + 4 * num_layers * context * d_model`, with `W` the matmul weights (qkv, attention out, MLP,
        output head; not the embedding lookup): `2 W` for the dense layers, and per layer `2 * context *
        d_model` for the query-key scores plus as much for the weighted sum of values. Biases, LayerNorm,
        softmax, GELU and RoPE are left out (elementwise, O(d_model) per token). As in Kaplan et al.
        (2020) and Hoffmann et al. (2022); a causal sequence of length T averages `(T + 1) / 2` keys.
        """
        if context <= 0:
            raise ValueError(f"context must be positive, got {context}")
        return 2 * self._matmul_weights() + 4 * self.num_layers * context * self.d_model


def _dense(features: int, name: str) -> nn.Dense:
    return nn.Dense(features, precision=PRECISION, name=name)


def _rope(x: jax.Array, positions: jax.Array) -> jax.Array:
    """Rotates `x` `[B, S, H, Dh]` by angle `position * ROPE_BASE ** (-2i / Dh)` in plane `(i, i + Dh/2)`."""
    half = x.shape[-1] // 2
    inv_freq = ROPE_BASE ** (-jnp.arange(half, dtype=jnp.float32) / half)
    angles = positions.astype(jnp.float32)[:, None] * inv_freq  # [S, Dh/2]
    cos, sin = jnp.cos(angles)[None, :, None, :], jnp.sin(angles)[None, :, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def _attend(q: jax.Array, k: jax.Array, v: jax.Array, q_pos: jax.Array, k_pos: jax.Array) -> jax.Array:
    """Causal softmax attention: `q` `[B, S, H, Dh]`, `k`, `v` `[B, C, H, Dh]` -> `[B, S, H, Dh]`.

    A key is visible to a query when its position is not later. Cache slots not yet written sit at later
    positions than every query, so the same mask hides them.
    """
    scores = jnp.einsum("bshd,bchd->bhsc", q, k, precision=PRECISION) / math.sqrt(q.shape[-1])
    visible = k_pos[None, :] <= q_pos[:, None]  # [S, C]; every query sees at least itself
    weights = jax.nn.softmax(jnp.where(visible, scores, -jnp.inf), axis=-1)
    return jnp.einsum("bhsc,bchd->bshd", weights, v, precision=PRECISION)


class _Block(nn.Module):
    """Pre-LayerNorm block. With a cache, writes this call's keys/values at their positions first and
    attends over the whole cache; without one, attends over this call's own keys/values."""

    config: TransformerConfig

    @nn.compact
    def __call__(
        self, x: jax.Array, positions: jax.Array, cache: tuple[jax.Array, jax.Array] | None
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array] | None]:
        cfg = self.config
        batch, length, _ = x.shape
        h = nn.LayerNorm(name="ln_attn")(x)
        qkv = _dense(3 * cfg.d_model, "qkv")(h).reshape(batch, length, 3, cfg.num_heads, cfg.head_dim)
        q, k, v = _rope(qkv[:, :, 0], positions), _rope(qkv[:, :, 1], positions), qkv[:, :, 2]
        if cache is not None:
            start = (0, positions[0], 0, 0)
            k = jax.lax.dynamic_update_slice(cache[0], k, start)
            v = jax.lax.dynamic_update_slice(cache[1], v, start)
            cache = (k, v)
            k_pos = jnp.arange(k.shape[1])
        else:
            k_pos = positions
        attended = _attend(q, k, v, positions, k_pos).reshape(batch, length, cfg.d_model)
        x = x + _dense(cfg.d_model, "attn_out")(attended)
        h = nn.LayerNorm(name="ln_mlp")(x)
        h = nn.gelu(_dense(cfg.mlp_ratio * cfg.d_model, "mlp_in")(h))
        return x + _dense(cfg.d_model, "mlp_out")(h), cache


class _Transformer(nn.Module):
    config: TransformerConfig

    def setup(self) -> None:
        cfg = self.config
        self.embed = nn.Embed(cfg.vocab_size, cfg.d_model, name="embed")
        self.blocks = [_Block(cfg, name=f"block_{i}") for i in range(cfg.num_layers)]
        self.ln_final = nn.LayerNorm(name="ln_final")
        self.head = _dense(cfg.vocab_size, "head")

    def __call__(self, tokens: jax.Array, start: jax.Array | int, caches: Cache | None):
        """`tokens` `[B, S]` at positions `start ... start + S - 1` -> (features `[B, S, D]`, caches)."""
        x = self.embed(tokens)
        positions = start + jnp.arange(tokens.shape[1])
        new_caches = []
        for i, block in enumerate(self.blocks):
            x, cache = block(x, positions, None if caches is None else caches[i])
            new_caches.append(cache)
        return self.ln_final(x), (None if caches is None else new_caches)

    def project(self, features: jax.Array) -> jax.Array:
        return self.head(features)

    def init_all(self, tokens: jax.Array) -> jax.Array:
        return self.project(self(tokens, 0, None)[0])


def _check_tokens(config: TransformerConfig, tokens: jax.Array) -> None:
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be [B, T], got shape {tokens.shape}")
    if tokens.shape[1] > config.max_len:
        raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_len {config.max_len}")


def init_params(key: jax.Array, config: TransformerConfig) -> Params:
    """Initial parameters (flax's default initialisers), a pytree of `num_params()` float32 values."""
    model = _Transformer(config)
    return model.init(key, jnp.zeros((1, 1), jnp.int32), method=_Transformer.init_all)["params"]


def features(params: Params, config: TransformerConfig, tokens: jax.Array) -> jax.Array:
    """Causal forward: `tokens` `[B, T]` int32 -> final LayerNormed hidden states `[B, T, d_model]`."""
    _check_tokens(config, tokens)
    return _Transformer(config).apply({"params": params}, tokens, 0, None)[0]


def logits(params: Params, config: TransformerConfig, tokens: jax.Array) -> jax.Array:
    """Teacher-forced causal forward: `tokens` `[B, T]` -> logits `[B, T, V]` float32, where
    `logits[:, t]` predicts `tokens[:, t + 1]`."""
    _check_tokens(config, tokens)

    def run(model: _Transformer, tokens: jax.Array) -> jax.Array:
        return model.project(model(tokens, 0, None)[0])

    return _Transformer(config).apply({"params": params}, tokens, method=run)


class Samples(NamedTuple):
    """A batch of sampled completions.

    Attributes:
        tokens: `[B, L]` int32 sampled tokens; after the first `eos_id` every position is `pad_id`.
        logprobs: `[B, L]` float32 log-probability of each sampled token under the model at temperature 1
            without top-k (the policy's own log-prob); 0 where `mask` is 0.
        mask: `[B, L]` float32, 1 for generated tokens up to and including the first eos, 0 after.
    """

    tokens: jax.Array
    logprobs: jax.Array
    mask: jax.Array


class _DecodeState(NamedTuple):
    done: jax.Array  # [B] bool: an eos has been emitted


def _choose(
    key: jax.Array, step_logits: jax.Array, temperature: jax.Array, top_k: int
) -> tuple[jax.Array, jax.Array]:
    """One token per row from `step_logits` `[B, V]` -> (tokens `[B]`, their temperature-1 log-probs `[B]`).

    Temperature 0 is greedy (argmax); the sampling branch then divides by 1 instead, so it never sees a
    division by zero even though both branches are computed.
    """
    logp = jax.nn.log_softmax(step_logits, axis=-1)
    scaled = step_logits
    if top_k:
        kth = jax.lax.top_k(step_logits, top_k)[0][:, -1:]
        scaled = jnp.where(step_logits >= kth, step_logits, -jnp.inf)
    greedy = temperature <= 0
    scaled = scaled / jnp.where(greedy, 1.0, temperature)
    token = jnp.where(greedy, jnp.argmax(step_logits, -1), jax.random.categorical(key, scaled, -1))
    token = token.astype(jnp.int32)
    return token, jnp.take_along_axis(logp, token[:, None], -1)[:, 0]


def _emit(
    state: _DecodeState, token: jax.Array, logprob: jax.Array, eos_id: int, pad_id: int
) -> tuple[_DecodeState, tuple[jax.Array, jax.Array, jax.Array]]:
    """Masks a chosen token after the first eos; returns the new state and (token, logprob, mask)."""
    live = ~state.done
    token = jnp.where(live, token, pad_id).astype(jnp.int32)
    mask = live.astype(jnp.float32)
    done = state.done | (live & (token == eos_id))
    return _DecodeState(done), (token, jnp.where(live, logprob, 0.0), mask)


def _check_sampling(config: TransformerConfig, prompts: jax.Array, num_tokens: int, top_k: int) -> None:
    _check_tokens(config, prompts)
    if num_tokens <= 0:
        raise ValueError(f"num_tokens must be positive, got {num_tokens}")
    if prompts.shape[1] + num_tokens > config.max_len:
        raise ValueError(
            f"prompt length {prompts.shape[1]} + num_tokens {num_tokens} exceeds max_len {config.max_len}"
        )
    if not 0 <= top_k <= config.vocab_size:
        raise ValueError(f"top_k must be in [0, vocab_size], got {top_k}")


def _decode(
    key: jax.Array,
    context: Any,
    next_logits: Callable[[Any, jax.Array], jax.Array],
    extend: Callable[[Any, jax.Array, jax.Array], Any],
    batch: int,
    num_tokens: int,
    sampling: tuple[float | jax.Array, int, int, int],
) -> Samples:
    """The decoding loop both samplers share; they differ only in how they keep the context.

    Step `i` draws token `i` with `split(key, num_tokens)[i]` from `next_logits(context, i)` `[B, V]`,
    masks it after the first eos (`_emit`), then `extend(context, tokens [B], i)` adds it to the context.
    `sampling` is `(temperature, top_k, eos_id, pad_id)`, as in `sample`.
    """
    temperature, top_k, eos_id, pad_id = sampling
    temperature = jnp.asarray(temperature, jnp.float32)

    def step(carry, xs):
        state, context = carry
        step_key, i = xs
        token, logprob = _choose(step_key, next_logits(context, i), temperature, top_k)
        state, out = _emit(state, token, logprob, eos_id, pad_id)
        return (state, extend(context, out[0], i)), out

    init = (_DecodeState(jnp.zeros(batch, bool)), context)
    xs = (jax.random.split(key, num_tokens), jnp.arange(num_tokens))
    _, outputs = jax.lax.scan(step, init, xs)
    tokens, logprobs, mask = (jnp.swapaxes(x, 0, 1) for x in outputs)  # scan's [L, B] -> [B, L]
    return Samples(tokens, logprobs, mask)


def sample(
    key: jax.Array,
    params: Params,
    config: TransformerConfig,
    prompts: jax.Array,
    num_tokens: int,
    *,
    temperature: float | jax.Array = 1.0,
    top_k: int = 0,
    eos_id: int,
    pad_id: int,
) -> Samples:
    """Samples `num_tokens` tokens after each prompt with a KV cache.

    One prefill forward over the prompts fills per-layer key/value caches of length `P + num_tokens`;
    then a `lax.scan` over the new positions: step `i` draws token `i` with `split(key, num_tokens)[i]`
    from the current logits, then runs that token alone at position `P + i` against the cache for the
    next logits (the last step's forward is unused: one extra single-token forward, kept for a uniform
    scan body). jit- and vmap-friendly; `config`, `num_tokens` and `top_k` are static.

    Args:
        key: PRNG key.
        params: from `init_params`.
        config: the model's config.
        prompts: `[B, P]` int32 (left-padded with `pad_id` if lengths differ; pads are ordinary tokens).
        num_tokens: completion length `L`.
        temperature: softmax temperature, may be traced; 0 means greedy.
        top_k: keep only the `top_k` largest logits when sampling (0: all; ties with the k-th are kept).
        eos_id: end-of-sequence token; everything after the first one is `pad_id`, mask 0.
        pad_id: filler after eos.

    Returns:
        `Samples` of shape `[B, L]`.
    """
    _check_sampling(config, prompts, num_tokens, top_k)
    prompts = prompts.astype(jnp.int32)
    model = _Transformer(config)
    variables = {"params": params}
    batch, prompt_len = prompts.shape
    cache_shape = (batch, prompt_len + num_tokens, config.num_heads, config.head_dim)
    caches = [(jnp.zeros(cache_shape, jnp.float32), jnp.zeros(cache_shape, jnp.float32))] * config.num_layers

    def forward(tokens: jax.Array, start: jax.Array | int, caches: Cache) -> tuple[jax.Array, Cache]:
        def run(m: _Transformer, tokens, start, caches):
            h, caches = m(tokens, start, caches)
            return m.project(h[:, -1]), caches

        return model.apply(variables, tokens, start, caches, method=run)

    # The context is `forward`'s result: the next token's logits `[B, V]` and the caches.
    def extend(context: tuple[jax.Array, Cache], tokens: jax.Array, i: jax.Array) -> tuple[jax.Array, Cache]:
        return forward(tokens[:, None], prompt_len + i, context[1])

    prefilled = forward(prompts, 0, caches)
    sampling = (temperature, top_k, eos_id, pad_id)
    return _decode(key, prefilled, lambda context, i: context[0], extend, batch, num_tokens, sampling)


def sample_full_recompute(
    key: jax.Array,
    params: Params,
    config: TransformerConfig,
    prompts: jax.Array,
    num_tokens: int,
    *,
    temperature: float | jax.Array = 1.0,
    top_k: int = 0,
    eos_id: int,
    pad_id: int,
) -> Samples:
    """`sample` without a cache: every step reruns `logits` over the whole `[B, P + num_tokens]` buffer
    (prompt, tokens so far, pads). Same per-step keys, so the same tokens as `sample` up to float
    rounding; the reference for tests and benchmarks. Arguments and result as `sample`."""
    _check_sampling(config, prompts, num_tokens, top_k)
    batch, prompt_len = prompts.shape
    buffer = jnp.concatenate(
        [prompts.astype(jnp.int32), jnp.full((batch, num_tokens), pad_id, jnp.int32)], axis=1
    )

    def next_logits(buffer: jax.Array, i: jax.Array) -> jax.Array:
        all_logits = logits(params, config, buffer)
        return jax.lax.dynamic_index_in_dim(all_logits, prompt_len - 1 + i, 1, keepdims=False)

    def extend(buffer: jax.Array, tokens: jax.Array, i: jax.Array) -> jax.Array:
        return jax.lax.dynamic_update_slice(buffer, tokens[:, None], (0, prompt_len + i))

    sampling = (temperature, top_k, eos_id, pad_id)
    return _decode(key, buffer, next_logits, extend, batch, num_tokens, sampling)
