"""GRPO's advantages and loss, pass@k and the completion mask, checked against hand-computed values."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.reasoning import sequence
from purerl.reasoning.grpo import group_advantages, grpo_loss

EPS = 1e-4  # the std guard of group_advantages


def test_group_advantages_by_hand():
    rewards = jnp.array([[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    # Group 1: mean 0.5, population std 0.5. Group 2: no signal. Group 3: mean 0.75, std sqrt(3)/4.
    scaled = group_advantages(rewards, normalize_std=True)
    std3 = math.sqrt(3) / 4
    expected = [
        [0.5 / (0.5 + EPS), -0.5 / (0.5 + EPS), -0.5 / (0.5 + EPS), 0.5 / (0.5 + EPS)],
        [0.0, 0.0, 0.0, 0.0],
        [0.25 / (std3 + EPS)] * 3 + [-0.75 / (std3 + EPS)],
    ]
    np.testing.assert_allclose(scaled, expected, rtol=1e-6)
    unscaled = group_advantages(rewards, normalize_std=False)
    np.testing.assert_allclose(unscaled, [[0.5, -0.5, -0.5, 0.5], [0, 0, 0, 0], [0.25, 0.25, 0.25, -0.75]])


MASK = jnp.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
ADV = jnp.array([1.0, -2.0])


def test_grpo_loss_on_policy_by_hand():
    logp = jnp.log(jnp.full((2, 3), 0.3))
    # Ratio 1: each token's surrogate is its completion's advantage. "grpo": mean of (-1, -1) and (2),
    # then of the two completions: 0.5. "dr_grpo": (-1 - 1 + 2) / (2 * 3) = 0.
    loss, metrics = grpo_loss(logp, logp, ADV, MASK, 0.2, "grpo")
    np.testing.assert_allclose(loss, 0.5, rtol=1e-6)
    assert metrics["clip_fraction"] == 0 and metrics["kl"] == 0
    loss, _ = grpo_loss(logp, logp, ADV, MASK, 0.2, "dr_grpo")
    np.testing.assert_allclose(loss, 0.0, atol=1e-7)


def test_grpo_loss_clipping_by_hand():
    old = jnp.log(jnp.full((2, 3), 0.2))
    # Token (0, 0): ratio 1.5 with A = 1 -> clipped to 1.2. Token (1, 0): ratio 0.5 with A = -2 ->
    # min(0.5 * -2, 0.8 * -2) = -1.6. The masked token (0, 2) has ratio 3 and must not count.
    ratio = jnp.array([[1.5, 1.0, 3.0], [0.5, 1.0, 1.0]])
    logp = old + jnp.log(ratio)
    loss, metrics = grpo_loss(logp, old, ADV, MASK, 0.2, "grpo")
    np.testing.assert_allclose(loss, ((1.2 + 1.0) / -2 + 1.6) / 2, rtol=1e-6)
    np.testing.assert_allclose(metrics["clip_fraction"], 2 / 3, rtol=1e-6)
    loss, _ = grpo_loss(logp, old, ADV, MASK, 0.2, "dr_grpo")
    np.testing.assert_allclose(loss, (-1.2 - 1.0 + 1.6) / 6, rtol=1e-6)
    # The clipped token passes no gradient; an unclipped token's gradient is -A / (tokens * N).
    grad = jax.grad(lambda lp: grpo_loss(lp, old, ADV, MASK, 0.2, "grpo")[0])(logp)
    np.testing.assert_allclose(grad, [[0.0, -1 / 4, 0.0], [0.0, 0.0, 0.0]], atol=1e-7)


def test_grpo_kl_penalty_by_hand():
    logp = jnp.log(jnp.full((2, 3), 0.25))
    ref = logp + jnp.log(2.0)  # q / p = 2 on every token: k3 = 2 - log 2 - 1
    kl = 2.0 - math.log(2.0) - 1.0
    loss, metrics = grpo_loss(logp, logp, ADV, MASK, 0.2, "grpo", kl_coef=0.1, ref_logp=ref)
    np.testing.assert_allclose(metrics["kl"], kl, rtol=1e-6)
    np.testing.assert_allclose(loss, 0.5 + 0.1 * kl, rtol=1e-6)


def test_pass_at_k_by_hand():
    n = 5
    correct = jnp.array([0, 1, 2, 5])
    # pass@1 = c / n; pass@2 = 1 - C(n - c, 2) / C(n, 2); pass@5 = 1 once any sample is right.
    np.testing.assert_allclose(sequence.pass_at_k(correct, n, 1), [0, 0.2, 0.4, 1.0], atol=1e-6)
    expected2 = [1 - math.comb(n - c, 2) / math.comb(n, 2) for c in (0, 1, 2, 5)]
    np.testing.assert_allclose(sequence.pass_at_k(correct, n, 2), expected2, atol=1e-6)
    np.testing.assert_allclose(sequence.pass_at_k(correct, n, 5), [0, 1, 1, 1], atol=1e-6)
    with pytest.raises(ValueError, match="k <= num_samples"):
        sequence.pass_at_k(correct, n, 6)


def test_completion_mask():
    eos = 2
    tokens = jnp.array([[5, 2, 0, 0], [5, 5, 5, 5], [2, 5, 2, 0]])
    np.testing.assert_array_equal(
        sequence.completion_mask(tokens, eos), [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    )
