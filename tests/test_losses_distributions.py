"""Hand-checked values for the PPO losses and the action distributions."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.distributions import Categorical, DiagGaussian
from purerl.losses import clipped_value_loss, mse_loss, normalize, ppo_policy_loss


def test_ppo_policy_loss_hand_values():
    # ratios r = exp(logp - old) = [1.5, 0.5, 1.0]; advantages [1, 1, -2]; eps 0.2
    # per-sample min(r A, clip(r) A): [min(1.5, 1.2), min(0.5, 0.8), min(-2, -2)] = [1.2, 0.5, -2]
    # loss = -mean = -(1.2 + 0.5 - 2) / 3 = 0.1
    old = jnp.zeros(3)
    logp = jnp.log(jnp.array([1.5, 0.5, 1.0]))
    adv = jnp.array([1.0, 1.0, -2.0])
    loss, diag = ppo_policy_loss(logp, old, adv, 0.2)
    np.testing.assert_allclose(loss, 0.1, atol=1e-6)
    # two of three ratios are outside [0.8, 1.2]
    np.testing.assert_allclose(diag["clip_fraction"], 2 / 3, atol=1e-6)
    # approx KL = mean((r - 1) - log r)
    r = np.array([1.5, 0.5, 1.0])
    np.testing.assert_allclose(diag["approx_kl"], np.mean((r - 1) - np.log(r)), atol=1e-6)


def test_ppo_policy_loss_gradient_vanishes_when_clipped():
    # r = 1.5 > 1 + eps with positive advantage: the clipped branch is active, no gradient.
    grad = jax.grad(lambda lp: ppo_policy_loss(lp, jnp.zeros(1), jnp.ones(1), 0.2)[0])(
        jnp.log(jnp.array([1.5]))
    )
    np.testing.assert_allclose(grad, 0.0)
    # r = 1.1 inside the trust region: gradient of -r A / N wrt log r is -r = -1.1.
    grad = jax.grad(lambda lp: ppo_policy_loss(lp, jnp.zeros(1), jnp.ones(1), 0.2)[0])(
        jnp.log(jnp.array([1.1]))
    )
    np.testing.assert_allclose(grad, -1.1, rtol=1e-6)


def test_clipped_value_loss_hand_values():
    # v = [2, 0], v_old = [1, 0], G = [3, 1], eps 0.5
    # clipped v = [1.5, 0]; squared errors: max((2-3)^2, (1.5-3)^2) = 2.25, max(1, 1) = 1
    # loss = 0.5 * mean([2.25, 1]) = 0.8125
    loss = clipped_value_loss(jnp.array([2.0, 0.0]), jnp.array([1.0, 0.0]), jnp.array([3.0, 1.0]), 0.5)
    np.testing.assert_allclose(loss, 0.8125, atol=1e-6)
    np.testing.assert_allclose(mse_loss(jnp.array([2.0, 0.0]), jnp.array([3.0, 1.0])), 0.5, atol=1e-6)


def test_normalize():
    x = normalize(jnp.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(x, np.array([-1.0, 0.0, 1.0]) / math.sqrt(2 / 3), rtol=1e-5)


def test_categorical_hand_values():
    probs = np.array([0.2, 0.3, 0.5])
    dist = Categorical(jnp.log(jnp.asarray(probs)) + 7.0)  # logits are shift invariant
    np.testing.assert_allclose(dist.log_prob(jnp.array(2)), np.log(0.5), rtol=1e-6)
    np.testing.assert_allclose(dist.entropy(), -(probs * np.log(probs)).sum(), rtol=1e-6)
    assert int(dist.mode()) == 2
    other = np.array([0.5, 0.25, 0.25])
    kl = (probs * np.log(probs / other)).sum()
    np.testing.assert_allclose(dist.kl(Categorical(jnp.log(jnp.asarray(other)))), kl, rtol=1e-5)
    samples = jax.vmap(dist.sample)(jax.random.split(jax.random.key(0), 20_000))
    assert samples.dtype == jnp.int32
    np.testing.assert_allclose(np.bincount(np.asarray(samples), minlength=3) / 20_000, probs, atol=0.015)


def test_diag_gaussian_hand_values():
    mean, log_std = jnp.array([0.0, 1.0]), jnp.log(jnp.array([1.0, 2.0]))
    dist = DiagGaussian(mean, log_std)
    x = jnp.array([1.0, 0.0])
    # log N(1; 0, 1) + log N(0; 1, 2) = (-0.5 - 0.5 log 2pi) + (-0.125 - log 2 - 0.5 log 2pi)
    expected = -0.5 - 0.125 - math.log(2.0) - math.log(2 * math.pi)
    np.testing.assert_allclose(dist.log_prob(x), expected, rtol=1e-6)
    # entropy = sum(log sigma + 0.5 (1 + log 2pi))
    np.testing.assert_allclose(dist.entropy(), math.log(2.0) + 1.0 + math.log(2 * math.pi), rtol=1e-6)
    # KL(N(0,1) || N(1,2)) per dim: log(2/1) + (1 + 1) / (2 * 4) - 0.5
    one_d = DiagGaussian(jnp.array([0.0]), jnp.array([0.0]))
    np.testing.assert_allclose(
        one_d.kl(DiagGaussian(jnp.array([1.0]), jnp.log(jnp.array([2.0])))),
        math.log(2.0) + 0.25 - 0.5,
        rtol=1e-6,
    )
    np.testing.assert_allclose(dist.kl(dist), 0.0, atol=1e-7)


@pytest.mark.parametrize(
    "dist", [Categorical(jnp.zeros((5, 3))), DiagGaussian(jnp.zeros((5, 2)), jnp.zeros(2))]
)
def test_distributions_batch_and_jit(dist):
    sample = jax.jit(lambda d, k: d.sample(k))(dist, jax.random.key(1))
    assert sample.shape[0] == 5
    assert dist.log_prob(sample).shape == (5,)
    assert dist.entropy().shape == (5,)
