"""Replay buffer: exact contents after wrap-around, sampling only valid slots, jit and vmap."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.replay import ReplayBuffer, replay_add_batch, replay_init, replay_sample
from purerl.types import Transition


def _item() -> dict[str, jax.Array]:
    return {"x": jnp.zeros((2,), jnp.float32), "id": jnp.zeros((), jnp.int32)}


def _items(ids: list[int]) -> dict[str, jax.Array]:
    ids_arr = jnp.asarray(ids, jnp.int32)
    return {"x": jnp.stack([ids_arr, -ids_arr], axis=1).astype(jnp.float32), "id": ids_arr}


def test_init_shapes_and_dtypes():
    example = Transition(
        obs=jnp.zeros((4,), jnp.float32),
        action=jnp.zeros((), jnp.int32),
        reward=jnp.zeros((), jnp.float32),
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
        final_obs=jnp.zeros((4,), jnp.float32),
        extras={},
    )
    buffer = replay_init(example, 7)
    chex.assert_shape(buffer.data.obs, (7, 4))
    chex.assert_shape(buffer.data.action, (7,))
    assert buffer.data.terminated.dtype == jnp.bool_
    assert buffer.data.action.dtype == jnp.int32
    assert buffer.data.extras == {}
    assert buffer.position.dtype == jnp.int32 and int(buffer.position) == 0
    assert buffer.size.dtype == jnp.int32 and int(buffer.size) == 0
    assert buffer.capacity == 7


@pytest.mark.parametrize("capacity", [0, -3, 2.5, True])
def test_init_rejects_bad_capacity(capacity):
    with pytest.raises(ValueError, match="capacity"):
        replay_init(_item(), capacity)


def test_wrap_around_exact_contents():
    # Capacity 5, batches of 3 (5 is not a multiple of 3): ids 0..8 written in three batches.
    buffer = replay_init(_item(), 5)
    buffer = replay_add_batch(buffer, _items([0, 1, 2]))
    np.testing.assert_array_equal(buffer.data["id"], [0, 1, 2, 0, 0])
    assert (int(buffer.position), int(buffer.size)) == (3, 3)

    buffer = replay_add_batch(buffer, _items([3, 4, 5]))
    # Slots 3, 4 then wrap to 0.
    np.testing.assert_array_equal(buffer.data["id"], [5, 1, 2, 3, 4])
    np.testing.assert_array_equal(buffer.data["x"][:, 1], [-5, -1, -2, -3, -4])
    assert (int(buffer.position), int(buffer.size)) == (1, 5)

    buffer = replay_add_batch(buffer, _items([6, 7, 8]))
    np.testing.assert_array_equal(buffer.data["id"], [5, 6, 7, 8, 4])
    assert (int(buffer.position), int(buffer.size)) == (4, 5)


def test_batch_larger_than_capacity_keeps_latest():
    buffer = replay_init(_item(), 3)
    buffer = replay_add_batch(buffer, _items([0]))
    buffer = replay_add_batch(buffer, _items([1, 2, 3, 4, 5, 6, 7]))
    # Writing one by one from position 1: 1->1, 2->2, 3->0, 4->1, 5->2, 6->0, 7->1.
    np.testing.assert_array_equal(buffer.data["id"], [6, 7, 5])
    assert (int(buffer.position), int(buffer.size)) == (2, 3)


def test_sample_only_valid_slots_and_uniform():
    buffer = replay_init(_item(), 100)
    buffer = replay_add_batch(buffer, _items(list(range(1, 8))))  # 7 valid items, ids 1..7
    batch = jax.jit(replay_sample, static_argnums=2)(jax.random.key(0), buffer, 7000)
    ids = np.asarray(batch["id"])
    assert ids.min() >= 1 and ids.max() <= 7, "sampled an unwritten slot"
    np.testing.assert_array_equal(batch["x"][:, 0], ids)  # leaves stay aligned
    counts = np.bincount(ids, minlength=8)[1:]
    # 1000 expected per id; 5 standard deviations is about 150.
    assert np.all(np.abs(counts - 1000) < 150), counts


def test_sample_full_buffer_covers_every_slot():
    buffer = replay_init(_item(), 6)
    buffer = replay_add_batch(buffer, _items(list(range(10))))
    batch = replay_sample(jax.random.key(1), buffer, 600)
    assert set(np.asarray(batch["id"]).tolist()) == {4, 5, 6, 7, 8, 9}


def test_jit_scan_matches_eager():
    def add_many(buffer: ReplayBuffer, batches):
        def body(buffer, items):
            return replay_add_batch(buffer, items), None

        return jax.lax.scan(body, buffer, batches)[0]

    batches = _items(list(range(12)))
    batches = jax.tree.map(lambda x: x.reshape((4, 3, *x.shape[1:])), batches)
    jitted = jax.jit(add_many)(replay_init(_item(), 5), batches)
    eager = replay_init(_item(), 5)
    for i in range(4):
        eager = replay_add_batch(eager, jax.tree.map(lambda x, i=i: x[i], batches))
    chex.assert_trees_all_equal(jitted, eager)
    np.testing.assert_array_equal(jitted.data["id"], [10, 11, 7, 8, 9])


def test_vmap_one_buffer_per_seed():
    num_seeds = 3

    def run(key):
        buffer = replay_init(_item(), 4)
        key_a, key_b = jax.random.split(key)
        # Per-seed contents: random ids, so the buffers differ between seeds.
        ids = jax.random.randint(key_a, (6,), 0, 1000)
        buffer = replay_add_batch(buffer, {"x": jnp.zeros((6, 2)), "id": ids})
        return buffer, replay_sample(key_b, buffer, 5)

    keys = jax.random.split(jax.random.key(2), num_seeds)
    buffers, samples = jax.jit(jax.vmap(run))(keys)
    chex.assert_shape(buffers.data["id"], (num_seeds, 4))
    chex.assert_shape(samples["id"], (num_seeds, 5))
    for i in range(num_seeds):
        single_buffer, single_sample = run(keys[i])
        chex.assert_trees_all_equal(jax.tree.map(lambda x, i=i: x[i], buffers), single_buffer)
        chex.assert_trees_all_equal(samples["id"][i], single_sample["id"])
        assert set(np.asarray(samples["id"][i]).tolist()) <= set(np.asarray(buffers.data["id"][i]).tolist())
    assert not np.array_equal(buffers.data["id"][0], buffers.data["id"][1])


def test_vmap_over_stacked_buffers_with_different_sizes():
    # Buffers at different fill levels in one batch: each samples only its own valid range.
    def filled(n):
        buffer = replay_init(_item(), 8)
        return replay_add_batch(buffer, _items(list(range(1, n + 1))))

    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), filled(2), filled(5))
    samples = jax.vmap(replay_sample, in_axes=(0, 0, None))(
        jax.random.split(jax.random.key(3), 2), stacked, 200
    )
    assert set(np.asarray(samples["id"][0]).tolist()) == {1, 2}
    assert set(np.asarray(samples["id"][1]).tolist()) == {1, 2, 3, 4, 5}
