"""Observation and action spaces: frozen, hashable descriptions with `sample` and `contains`."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Discrete:
    """Integers `0 .. n - 1`.

    Attributes:
        n: number of values.
        dtype: integer dtype of samples.
    """

    n: int
    dtype: str = "int32"

    @property
    def shape(self) -> tuple[int, ...]:
        return ()

    def sample(self, key: jax.Array) -> jax.Array:
        """Uniform sample, shape `[]`."""
        return jax.random.randint(key, (), 0, self.n, dtype=self.dtype)

    def contains(self, x: jax.Array) -> jax.Array:
        """Bool scalar: `x` is an integer in range (dtype kind is checked statically)."""
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.integer) or x.shape != ():
            return jnp.asarray(False)
        return (x >= 0) & (x < self.n)


@dataclasses.dataclass(frozen=True)
class Box:
    """A box `[low, high]` of floats with a fixed shape. Bounds may be infinite.

    `low` and `high` are stored as tuples so the space is hashable (usable as static config).

    Attributes:
        low: lower bounds, flattened, one per element (or one for all).
        high: upper bounds, flattened, one per element (or one for all).
        shape: shape of one value.
        dtype: float dtype of samples.
    """

    low: tuple[float, ...]
    high: tuple[float, ...]
    shape: tuple[int, ...]
    dtype: str = "float32"

    @classmethod
    def from_bounds(cls, low, high, shape: tuple[int, ...], dtype: str = "float32") -> Box:
        """Build from scalars or arrays broadcastable to `shape`."""
        low_arr = np.broadcast_to(np.asarray(low, dtype=np.float64), shape).ravel()
        high_arr = np.broadcast_to(np.asarray(high, dtype=np.float64), shape).ravel()
        return cls(tuple(float(v) for v in low_arr), tuple(float(v) for v in high_arr), tuple(shape), dtype)

    @property
    def low_array(self) -> jax.Array:
        return jnp.asarray(np.reshape(np.asarray(self.low), self.shape), dtype=self.dtype)

    @property
    def high_array(self) -> jax.Array:
        return jnp.asarray(np.reshape(np.asarray(self.high), self.shape), dtype=self.dtype)

    @property
    def bounded(self) -> bool:
        return bool(np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high)))

    def sample(self, key: jax.Array) -> jax.Array:
        """Uniform sample where bounded, standard normal (clipped) where a bound is infinite."""
        low, high = self.low_array, self.high_array
        finite = jnp.isfinite(low) & jnp.isfinite(high)
        uniform = jax.random.uniform(
            key, self.shape, self.dtype, jnp.where(finite, low, 0.0), jnp.where(finite, high, 1.0)
        )
        normal = jnp.clip(jax.random.normal(key, self.shape, self.dtype), low, high)
        return jnp.where(finite, uniform, normal)

    def contains(self, x: jax.Array) -> jax.Array:
        """Bool scalar: right shape, floating dtype, and every element within bounds."""
        x = jnp.asarray(x)
        if x.shape != self.shape or not jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.asarray(False)
        return jnp.all((x >= self.low_array) & (x <= self.high_array))


Space = Discrete | Box
