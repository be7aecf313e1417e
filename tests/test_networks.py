"""Network building blocks: the LAPACK-safe orthogonal initialiser and the im2col convolution."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.networks import MinAtarCNN, PatchConv, orthogonal


@pytest.mark.parametrize("shape", [(4, 64), (64, 64), (64, 2), (400, 64), (3, 3, 4, 16), (1, 5)])
def test_orthogonal_is_the_library_initialiser_bit_for_bit(shape):
    key = jax.random.key(7)
    ours = orthogonal(1.7)(key, shape)
    library = jax.nn.initializers.orthogonal(1.7)(key, shape)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(library))


def test_orthogonal_columns_or_rows_are_orthonormal():
    tall = orthogonal()(jax.random.key(0), (32, 8))
    np.testing.assert_allclose(tall.T @ tall, np.eye(8), atol=1e-5)
    wide = orthogonal()(jax.random.key(1), (8, 32))
    np.testing.assert_allclose(wide @ wide.T, np.eye(8), atol=1e-5)


def test_vmapped_orthogonal_over_many_seeds_matches_one_at_a_time():
    # 80 seeds x 3 layers: the batched-QR pattern that deadlocked jaxlib 0.10.2 on CPU.
    keys = jax.random.split(jax.random.key(0), 80)

    def layers(key):
        return jnp.stack([orthogonal()(k, (16, 16)) for k in jax.random.split(key, 3)])

    batched = jax.jit(jax.vmap(layers))(keys)
    one = layers(keys[41])
    np.testing.assert_array_equal(np.asarray(batched[41]), np.asarray(one))


def test_patch_conv_equals_flax_conv_with_the_same_parameters():
    x = jax.random.uniform(jax.random.key(0), (2, 3, 10, 10, 4))
    conv = nn.Conv(16, (3, 3), padding="VALID")
    params = jax.tree.map(lambda p: p + 0.1, conv.init(jax.random.key(1), x))  # non-zero bias
    patch = PatchConv(16, 3)
    assert jax.tree.map(jnp.shape, patch.init(jax.random.key(1), x)) == jax.tree.map(jnp.shape, params)
    np.testing.assert_allclose(patch.apply(params, x), conv.apply(params, x), rtol=1e-5, atol=1e-5)
    # vmapped over per-seed kernels as in training
    stacked = jax.tree.map(lambda p: jnp.stack([p, 2 * p]), params)
    out = jax.vmap(patch.apply, in_axes=(0, None))(stacked, x)
    np.testing.assert_allclose(
        out[1], conv.apply(jax.tree.map(lambda p: 2 * p, params), x), rtol=1e-5, atol=1e-5
    )


def test_minatar_cnn_keeps_batch_axes():
    net = MinAtarCNN(hidden=32)
    x = jnp.zeros((5, 7, 10, 10, 4))
    params = net.init(jax.random.key(0), x)
    assert net.apply(params, x).shape == (5, 7, 32)
    assert params["params"]["Conv_0"]["kernel"].shape == (3, 3, 4, 16)
