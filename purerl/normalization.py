"""Running mean / variance statistics (float32), for observation and return normalisation."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class RunningMeanStd(NamedTuple):
    """Running moments merged with the parallel update of Chan et al. (1979).

    Attributes:
        mean: `[*shape]` running mean.
        var: `[*shape]` running (population) variance.
        count: scalar number of samples folded in (starts at a tiny epsilon, not 0).
    """

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape: tuple[int, ...]) -> RunningMeanStd:
        return cls(
            jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32), jnp.asarray(1e-4, jnp.float32)
        )

    def update(self, x: jax.Array) -> RunningMeanStd:
        """Fold in one sample `x` of shape `[*shape]`."""
        return self.update_batch(x[None])

    def update_batch(self, x: jax.Array) -> RunningMeanStd:
        """Fold in a batch `[N, *shape]`."""
        x = x.astype(jnp.float32)
        batch_count = jnp.asarray(x.shape[0], jnp.float32)
        batch_mean = x.mean(axis=0)
        batch_var = x.var(axis=0)
        count = self.count + batch_count
        delta = batch_mean - self.mean
        mean = self.mean + delta * batch_count / count
        m2 = self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / count
        return RunningMeanStd(mean, m2 / count, count)

    def normalize(self, x: jax.Array, clip: float = 10.0) -> jax.Array:
        """`clip((x - mean) / sqrt(var + 1e-8), -clip, clip)`."""
        return jnp.clip((x - self.mean) / jnp.sqrt(self.var + 1e-8), -clip, clip)
