"""A uniform experience-replay buffer that is a pure pytree, so it lives inside the jitted training state.

The buffer has a fixed capacity and overwrites its oldest items first (a circular array, as in the
replay memory of Mnih et al., 2015, "Human-level control through deep reinforcement learning"). Every
leaf of the stored pytree gets a leading `[capacity]` axis, allocated once at `replay_init`; adding
and sampling are index arithmetic on those arrays, so everything is jit-able, `vmap`-able (one buffer
per seed) and can be carried through `lax.scan`.

    buffer = replay_init(example_transition, capacity=100_000)
    buffer = replay_add_batch(buffer, transitions)        # leaves [B, ...]
    batch = replay_sample(key, buffer, batch_size=256)    # leaves [256, ...]

Writes start at slot 0 and advance contiguously, so while the buffer is not yet full the valid items
are exactly the slots `[0, size)`; once full, every slot is valid.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purerl.types import PRNGKey

__all__ = ["ReplayBuffer", "replay_add_batch", "replay_init", "replay_sample"]


class ReplayBuffer(NamedTuple):
    """Fixed-capacity circular storage.

    Attributes:
        data: pytree whose every leaf has shape `[capacity, *item_shape]`.
        position: int32 scalar, the slot the next item is written to.
        size: int32 scalar, number of valid items (`<= capacity`).
    """

    data: Any
    position: jax.Array
    size: jax.Array

    @property
    def capacity(self) -> int:
        """Static capacity: the leading axis of the leaves (call it on one buffer, e.g. inside `vmap`)."""
        return jax.tree.leaves(self.data)[0].shape[0]


def replay_init(example_item: Any, capacity: int) -> ReplayBuffer:
    """An empty buffer able to hold `capacity` items shaped like `example_item`.

    Args:
        example_item: one item (no batch axis), e.g. a `Transition` of unbatched arrays. Only its
            structure, shapes and dtypes are used.
        capacity: static number of slots, a positive Python int.

    Returns:
        A `ReplayBuffer` of zeros with `position = size = 0`.

    Raises:
        ValueError: if `capacity` is not a positive int or `example_item` has no array leaves.
    """
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"replay_init: capacity must be a positive integer, got {capacity!r}")
    if not jax.tree.leaves(example_item):
        raise ValueError("replay_init: example_item has no array leaves")

    def allocate(leaf: Any) -> jax.Array:
        leaf = jnp.asarray(leaf)
        return jnp.zeros((capacity, *leaf.shape), leaf.dtype)

    data = jax.tree.map(allocate, example_item)
    return ReplayBuffer(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def replay_add_batch(buffer: ReplayBuffer, items: Any) -> ReplayBuffer:
    """Write `B` items at `position, position + 1, ...` (mod capacity), overwriting the oldest.

    If `B > capacity`, only the last `capacity` items can survive; the earlier ones are dropped up
    front, which is what writing them one by one would leave (and avoids a scatter with duplicate
    indices, whose winner XLA does not define).

    Args:
        buffer: the buffer.
        items: pytree with the structure of the stored item, every leaf `[B, *item_shape]` (`B` static).

    Returns:
        The updated buffer: `position = (position + B) % capacity`, `size = min(size + B, capacity)`.
    """
    capacity = buffer.capacity
    num_items = jax.tree.leaves(items)[0].shape[0]
    kept = min(num_items, capacity)
    if kept < num_items:
        items = jax.tree.map(lambda x: x[num_items - kept :], items)
    # The first kept item is the (num_items - kept)-th written, so it lands that many slots further on.
    start = buffer.position + (num_items - kept)
    indices = (start + jnp.arange(kept, dtype=jnp.int32)) % capacity
    data = jax.tree.map(
        lambda stored, new: stored.at[indices].set(new.astype(stored.dtype)), buffer.data, items
    )
    position = ((buffer.position + num_items) % capacity).astype(jnp.int32)
    size = jnp.minimum(buffer.size + num_items, capacity).astype(jnp.int32)
    return ReplayBuffer(data, position, size)


def replay_sample(key: PRNGKey, buffer: ReplayBuffer, batch_size: int) -> Any:
    """`batch_size` items drawn uniformly, with replacement, from the valid slots `[0, size)`.

    Sampling an empty buffer does not fail (jit cannot raise): it returns copies of slot 0, which
    holds zeros. Callers mask updates until enough items were collected.

    Args:
        buffer: the buffer.
        key: PRNG key.
        batch_size: static number of items.

    Returns:
        Pytree with the structure of the stored item, every leaf `[batch_size, *item_shape]`.
    """
    high = jnp.maximum(buffer.size, 1)
    indices = jax.random.randint(key, (batch_size,), 0, high, dtype=jnp.int32)
    return jax.tree.map(lambda stored: stored[indices], buffer.data)
