"""Action distributions as pytrees (NamedTuples), so networks can return them from `apply`.

Shapes: a batch of distributions has parameters `[..., A]`; `log_prob`, `entropy` return `[...]`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

_LOG_2PI = math.log(2.0 * math.pi)


class Categorical(NamedTuple):
    """Categorical over `A` actions, parameterised by unnormalised `logits` `[..., A]`."""

    logits: jax.Array

    def _log_probs(self) -> jax.Array:
        return jax.nn.log_softmax(self.logits, axis=-1)

    def sample(self, key: jax.Array) -> jax.Array:
        """int32 `[...]`."""
        return jax.random.categorical(key, self.logits, axis=-1).astype(jnp.int32)

    def mode(self) -> jax.Array:
        return jnp.argmax(self.logits, axis=-1).astype(jnp.int32)

    def log_prob(self, action: jax.Array) -> jax.Array:
        log_probs = self._log_probs()
        return jnp.take_along_axis(log_probs, action[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def entropy(self) -> jax.Array:
        log_probs = self._log_probs()
        return -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)

    def kl(self, other: Categorical) -> jax.Array:
        """KL(self || other), `[...]`."""
        log_p, log_q = self._log_probs(), other._log_probs()
        return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)


class DiagGaussian(NamedTuple):
    """Diagonal Gaussian with `mean` `[..., A]` and `log_std` broadcastable to it."""

    mean: jax.Array
    log_std: jax.Array

    def sample(self, key: jax.Array) -> jax.Array:
        noise = jax.random.normal(key, self.mean.shape, self.mean.dtype)
        return self.mean + jnp.exp(self.log_std) * noise

    def mode(self) -> jax.Array:
        return self.mean

    def log_prob(self, action: jax.Array) -> jax.Array:
        z = (action - self.mean) * jnp.exp(-self.log_std)
        log_std = jnp.broadcast_to(self.log_std, self.mean.shape)
        return jnp.sum(-0.5 * z**2 - log_std - 0.5 * _LOG_2PI, axis=-1)

    def entropy(self) -> jax.Array:
        log_std = jnp.broadcast_to(self.log_std, self.mean.shape)
        return jnp.sum(log_std + 0.5 * (1.0 + _LOG_2PI), axis=-1)

    def kl(self, other: DiagGaussian) -> jax.Array:
        """KL(self || other), `[...]`."""
        var_ratio = jnp.exp(2.0 * (self.log_std - other.log_std))
        mean_term = ((self.mean - other.mean) * jnp.exp(-other.log_std)) ** 2
        per_dim = 0.5 * (var_ratio + mean_term - 1.0) - (self.log_std - other.log_std)
        return jnp.sum(jnp.broadcast_to(per_dim, self.mean.shape), axis=-1)


Distribution = Categorical | DiagGaussian


def _log_one_minus_tanh_sq(pre_tanh: jax.Array) -> jax.Array:
    """`log(1 - tanh(u)^2)`, stable for large `|u|`.

    Uses `1 - tanh(u)^2 = 4 e^{-2u} / (1 + e^{-2u})^2`, i.e. `2 (log 2 - u - softplus(-2u))`, which never
    forms `1 - tanh(u)^2` (that rounds to 0, hence `log 0`, once `|u| > ~9` in float32).
    """
    return 2.0 * (math.log(2.0) - pre_tanh - jax.nn.softplus(-2.0 * pre_tanh))


class TanhGaussian(NamedTuple):
    """Diagonal Gaussian squashed by `tanh` and rescaled to the box `[low, high]` (SAC's policy).

    A pre-tanh sample `u ~ N(mean, exp(log_std)^2)` becomes the action
    `a = center + scale * tanh(u)`, `center = (high + low) / 2`, `scale = (high - low) / 2`.
    Change of variables (Haarnoja et al., 2018, "Soft Actor-Critic", appendix C, plus the rescaling):

        log pi(a) = log N(u; mean, std) - sum_i [log scale_i + log(1 - tanh(u_i)^2)].

    The `log scale` term is constant in the parameters but makes `log_prob` a true density over the
    environment's action box, so an entropy target like `-|A|` means the same for every box.

    Attributes:
        mean: `[..., A]` pre-tanh mean.
        log_std: `[..., A]` pre-tanh log standard deviation.
        low: `[A]` (or broadcastable) lower bounds of the action box; finite.
        high: `[A]` (or broadcastable) upper bounds of the action box; finite.
    """

    mean: jax.Array
    log_std: jax.Array
    low: jax.Array
    high: jax.Array

    def _center_scale(self) -> tuple[jax.Array, jax.Array]:
        return 0.5 * (self.high + self.low), 0.5 * (self.high - self.low)

    def squash(self, pre_tanh: jax.Array) -> jax.Array:
        """Pre-tanh value `[..., A]` -> action in the box `[..., A]`."""
        center, scale = self._center_scale()
        return center + scale * jnp.tanh(pre_tanh)

    def log_prob_pre_tanh(self, pre_tanh: jax.Array) -> jax.Array:
        """`log pi(squash(u))` from the pre-tanh value `u` `[..., A]` -> `[...]`.

        Preferred over `log_prob(action)`: it needs no `atanh`, which is ill-conditioned near the
        bounds where a saturated policy puts its samples.
        """
        gaussian = DiagGaussian(self.mean, self.log_std).log_prob(pre_tanh)
        _, scale = self._center_scale()
        log_det = jnp.log(scale) + _log_one_minus_tanh_sq(pre_tanh)
        return gaussian - jnp.sum(jnp.broadcast_to(log_det, pre_tanh.shape), axis=-1)

    def sample_and_log_prob(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Reparameterised sample: `(action [..., A], log_prob [...])`, differentiable in the params."""
        pre_tanh = DiagGaussian(self.mean, self.log_std).sample(key)
        return self.squash(pre_tanh), self.log_prob_pre_tanh(pre_tanh)

    def sample(self, key: jax.Array) -> jax.Array:
        return self.sample_and_log_prob(key)[0]

    def mode(self) -> jax.Array:
        """The deterministic (evaluation) action `squash(mean)`; the density's mode only when the
        Gaussian is narrow, which is what SAC evaluates with by convention."""
        return self.squash(self.mean)

    def log_prob(self, action: jax.Array, eps: float = 1e-6) -> jax.Array:
        """`log pi(action)` for an action in the box `[..., A]` -> `[...]` (inverts the squash).

        The normalised action is clipped to `[-1 + eps, 1 - eps]` so a boundary action stays finite.
        """
        center, scale = self._center_scale()
        unit = jnp.clip((action - center) / scale, -1.0 + eps, 1.0 - eps)
        return self.log_prob_pre_tanh(jnp.arctanh(unit))
