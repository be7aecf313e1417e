"""flax.linen networks: MLP, the MinAtar CNN, and actor-critic heads.

Initialisation follows common PPO practice (Andrychowicz et al., 2021, "What matters in on-policy RL"):
orthogonal weights with gain sqrt(2) in hidden layers, 0.01 for the policy head, 1 for the value head.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from purerl.distributions import Categorical, DiagGaussian, TanhGaussian

ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu, "silu": nn.silu}


def orthogonal(scale: float = 1.0) -> Callable[..., jax.Array]:
    """Orthogonal initialiser (Saxe et al., 2014) that never runs a batch of QR factorisations at once.

    Same distribution and, for the same key, the same bits as `jax.nn.initializers.orthogonal`: a
    Gaussian `[max(r, c), min(r, c)]` matrix (`r` = product of all but the last axis, `c` = last axis),
    the Q of its QR with the signs of R's diagonal folded in, transposed when `r < c`, reshaped to
    `shape`, times `scale`.

    Why: under `vmap` (one network per seed) the library initialiser calls jaxlib's batched QR, which on
    CPU splits the batch over XLA's intra-op thread pool and blocks until the pieces finish. When as many
    of those QRs run at once as the pool has threads (one per layer), every worker waits and the program
    never finishes (jaxlib 0.10.2; seen here with 2 to 65+ seeds, e.g. PPO on Breakout-MinAtar with 16).
    Here a vmapped QR factorises its matrices one after another (`lax.map`), which runs inline. Init
    runs once per run, so the cost is negligible, and LAPACK's result does not depend on the program it
    is compiled into: chunked runner and single-call `train` start from identical parameters.
    """

    def init(key: jax.Array, shape: Sequence[int], dtype: jnp.dtype = jnp.float32) -> jax.Array:
        rows, cols = math.prod(shape[:-1]), shape[-1]
        gaussian = jax.random.normal(key, (max(rows, cols), min(rows, cols)), jnp.float32)
        q = orthonormal_columns(gaussian)
        if rows < cols:
            q = q.T
        return (scale * q).reshape(shape).astype(dtype)

    return init


@jax.custom_batching.custom_vmap
def orthonormal_columns(a: jax.Array) -> jax.Array:
    """`[m, n] -> [m, n]` (`m >= n`): the Q of `a = QR` with R's diagonal made positive."""
    q, r = jnp.linalg.qr(a)
    return q * jnp.sign(jnp.diag(r))


@orthonormal_columns.def_vmap
def _orthonormal_columns_one_at_a_time(axis_size: int, in_batched: list[bool], a: jax.Array):
    del axis_size, in_batched  # `a` is the only input, so it is the batched one
    return jax.lax.map(orthonormal_columns, a), True


def _dense(features: int, gain: float) -> nn.Dense:
    return nn.Dense(features, kernel_init=orthogonal(gain), bias_init=nn.initializers.zeros)


class MLP(nn.Module):
    """Fully connected torso: `[..., D] -> [..., hidden_sizes[-1]]`."""

    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        for size in self.hidden_sizes:
            x = _dense(size, np.sqrt(2.0))(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = act(x)
        return x


class PatchConv(nn.Module):
    """2-D convolution, stride 1, "VALID" padding, computed as patches @ kernel (im2col).

    `[..., H, W, C] -> [..., H - k + 1, W - k + 1, features]`, with the same parameters (`kernel`
    `[k, k, C, features]`, `bias`) and the same values as `nn.Conv(features, (k, k), padding="VALID")`.

    Why: vmapped over seeds (one kernel per seed), XLA turns a convolution into a grouped convolution,
    which its CPU backend runs about 2.4x slower than the same convolutions one seed at a time; as
    patches times a matrix it becomes a batched matmul. The barrier keeps XLA from fusing the patch
    extraction into the matmul, which measured 2x slower again (16 seeds x 128 MinAtar frames, 2 cores:
    forward 20.7 ms as a convolution, 10.0 ms here).
    """

    features: int
    kernel_size: int
    kernel_init: Callable[..., jax.Array] = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, channels = self.kernel_size, x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (k, k, channels, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        out_h, out_w = x.shape[-3] - k + 1, x.shape[-2] - k + 1
        # Patch layout (row, column, channel) matches the kernel's flattening order.
        patches = jnp.concatenate(
            [x[..., i : i + out_h, j : j + out_w, :] for i in range(k) for j in range(k)], axis=-1
        )
        patches = jax.lax.optimization_barrier(patches)
        return patches @ kernel.reshape((k * k * channels, self.features)) + bias


class MinAtarCNN(nn.Module):
    """The MinAtar network (Young & Tian, 2019): one 3x3 conv with 16 filters, then a dense layer.

    Input `[..., 10, 10, C]`, output `[..., hidden]`.
    """

    hidden: int = 128
    activation: str = "relu"
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        batch_shape = x.shape[:-3]
        x = x.reshape((-1, *x.shape[-3:]))
        x = PatchConv(16, 3, kernel_init=orthogonal(np.sqrt(2.0)), name="Conv_0")(x)
        x = act(x)
        x = x.reshape((*batch_shape, -1))
        x = _dense(self.hidden, np.sqrt(2.0))(x)
        if self.layer_norm:
            x = nn.LayerNorm()(x)
        return act(x)


class ResidualCNN(nn.Module):
    """A small residual tower for board observations: `[..., H, W, C] -> [..., hidden]`.

    A 3x3 convolution to `channels`, then `num_blocks` residual blocks (two 3x3 convolutions, "SAME"
    padding, ReLU; no batch norm, so every seed's network is a pure function of its parameters), then a
    dense layer on the flattened board. Convolutions are `PatchConv` on a zero-padded board (fast when
    vmapped over seeds on CPU). Parameters: about `18 * channels**2 * num_blocks + H * W * channels *
    hidden`.
    """

    channels: int = 32
    num_blocks: int = 2
    hidden: int = 128

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        batch_shape = x.shape[:-3]
        x = x.reshape((-1, *x.shape[-3:])).astype(jnp.float32)

        def conv(x: jax.Array, name: str) -> jax.Array:
            padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
            return PatchConv(self.channels, 3, kernel_init=orthogonal(np.sqrt(2.0)), name=name)(padded)

        x = nn.relu(conv(x, "stem"))
        for block in range(self.num_blocks):
            h = nn.relu(conv(x, f"block{block}_a"))
            x = nn.relu(x + conv(h, f"block{block}_b"))
        x = x.reshape((*batch_shape, -1))
        return nn.relu(_dense(self.hidden, np.sqrt(2.0))(x))


def make_torso(
    kind: str, hidden_sizes: Sequence[int], activation: str, layer_norm: bool = False, obs_ndim: int = 1
) -> nn.Module:
    """`kind` is "mlp" (flattens the trailing `obs_ndim` observation axes) or "minatar_cnn"."""
    if kind == "mlp":
        return _FlatMLP(tuple(hidden_sizes), activation, layer_norm, obs_ndim)
    if kind == "minatar_cnn":
        return MinAtarCNN(hidden_sizes[-1] if hidden_sizes else 128, activation, layer_norm)
    raise ValueError(f"unknown torso {kind!r}; valid: 'mlp', 'minatar_cnn'")


class _FlatMLP(nn.Module):
    """MLP on observations `[..., *obs_shape]` with `len(obs_shape) == obs_ndim`, flattened first (image
    observations such as MinAtar's `[10, 10, C]` become vectors; batch axes are kept)."""

    hidden_sizes: Sequence[int]
    activation: str
    layer_norm: bool
    obs_ndim: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape((*x.shape[: x.ndim - self.obs_ndim], -1))
        return MLP(self.hidden_sizes, self.activation, self.layer_norm)(x)


class PolicyHead(nn.Module):
    """Features -> action distribution. Discrete: `Categorical`; continuous: `DiagGaussian` with a
    state-independent learned log-std."""

    action_dim: int
    discrete: bool
    init_log_std: float = 0.0

    @nn.compact
    def __call__(self, features: jax.Array) -> Categorical | DiagGaussian:
        out = _dense(self.action_dim, 0.01)(features)
        if self.discrete:
            return Categorical(out)
        log_std = self.param("log_std", nn.initializers.constant(self.init_log_std), (self.action_dim,))
        return DiagGaussian(out, jnp.broadcast_to(log_std, out.shape))


class ActorCritic(nn.Module):
    """Separate actor and critic torsos (no shared features, as in most PPO baselines).

    `__call__(obs [..., *obs_shape]) -> (distribution [...], value [...])`; `value(obs) -> [...]`.
    """

    action_dim: int
    discrete: bool
    torso: str = "mlp"
    hidden_sizes: Sequence[int] = (64, 64)
    activation: str = "tanh"
    init_log_std: float = 0.0
    obs_ndim: int = 1

    def setup(self):
        self.actor_torso = make_torso(self.torso, self.hidden_sizes, self.activation, obs_ndim=self.obs_ndim)
        self.critic_torso = make_torso(self.torso, self.hidden_sizes, self.activation, obs_ndim=self.obs_ndim)
        self.policy_head = PolicyHead(self.action_dim, self.discrete, self.init_log_std)
        self.value_head = _dense(1, 1.0)

    def __call__(self, obs: jax.Array) -> tuple[Categorical | DiagGaussian, jax.Array]:
        return self.policy(obs), self.value(obs)

    def policy(self, obs: jax.Array) -> Categorical | DiagGaussian:
        return self.policy_head(self.actor_torso(obs))

    def value(self, obs: jax.Array) -> jax.Array:
        return self.value_head(self.critic_torso(obs))[..., 0]


# --------------------------------------------------------------------------------------------------------
# Off-policy actor-critic pieces (SAC, TD3): actors mapping into an action box, an ensemble of Q critics.
# --------------------------------------------------------------------------------------------------------


class SquashedGaussianActor(nn.Module):
    """SAC policy: `obs [..., D] -> TanhGaussian` over the box `[low, high]` (`[..., A]` parameters).

    The log-std comes from the network (state-dependent, as in Haarnoja et al., 2018) and is clipped to
    `[log_std_min, log_std_max]` so the log-density stays finite when the policy saturates.
    """

    action_dim: int
    low: tuple[float, ...]
    high: tuple[float, ...]
    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"
    log_std_min: float = -5.0
    log_std_max: float = 2.0

    @nn.compact
    def __call__(self, obs: jax.Array) -> TanhGaussian:
        x = MLP(self.hidden_sizes, self.activation)(obs)
        # Small head gains: the initial policy is a broad, centred Gaussian (mean ~0, std ~1).
        mean = _dense(self.action_dim, 0.01)(x)
        log_std = jnp.clip(_dense(self.action_dim, 0.01)(x), self.log_std_min, self.log_std_max)
        low = jnp.asarray(self.low, jnp.float32)
        high = jnp.asarray(self.high, jnp.float32)
        return TanhGaussian(mean, log_std, low, high)


class DeterministicActor(nn.Module):
    """TD3/DDPG policy: `obs [..., D] -> action [..., A]` in the box, `center + scale * tanh(out)`."""

    action_dim: int
    low: tuple[float, ...]
    high: tuple[float, ...]
    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = MLP(self.hidden_sizes, self.activation)(obs)
        out = jnp.tanh(_dense(self.action_dim, 0.01)(x))
        low = jnp.asarray(self.low, jnp.float32)
        high = jnp.asarray(self.high, jnp.float32)
        return 0.5 * (high + low) + 0.5 * (high - low) * out


class QNetwork(nn.Module):
    """State-action value: `(obs [..., D], action [..., A]) -> Q [...]` (the two are concatenated)."""

    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        x = jnp.concatenate([obs, action.astype(obs.dtype)], axis=-1)
        x = MLP(self.hidden_sizes, self.activation)(x)
        return _dense(1, 1.0)(x)[..., 0]


class QEnsemble(nn.Module):
    """`num_critics` independent `QNetwork`s: `(obs [..., D], action [..., A]) -> Q [K, ...]`.

    The critics' parameters are stacked on a leading `[K]` axis (`nn.vmap`), so all of them run as one
    batched matrix product instead of `K` small ones; with `K = 2` these are the twin critics of TD3
    (Fujimoto et al., 2018) and SAC, whose minimum counters over-estimation.
    """

    num_critics: int = 2
    hidden_sizes: Sequence[int] = (256, 256)
    activation: str = "relu"

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        ensemble = nn.vmap(
            QNetwork,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num_critics,
        )
        return ensemble(self.hidden_sizes, self.activation)(obs, action)


def dueling_aggregate(value: jax.Array, advantages: jax.Array) -> jax.Array:
    """Dueling combination (Wang et al., 2016, "Dueling Network Architectures for Deep RL", eq. 9).

        Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')

    Subtracting the mean makes V and A identifiable (adding a constant to every advantage would
    otherwise leave Q unchanged).

    Args:
        value: `[...]` state values.
        advantages: `[..., A]` action advantages.

    Returns:
        `[..., A]` action values.
    """
    return value[..., None] + advantages - advantages.mean(axis=-1, keepdims=True)


class DiscreteQNetwork(nn.Module):
    """Action-value network for discrete actions: `obs [..., *obs_shape] -> Q [..., num_actions]`.

    A torso from `make_torso` (optionally with LayerNorm after each hidden layer, as PQN needs:
    Gallici et al., 2024) followed by a linear head, or by value and advantage heads combined with
    `dueling_aggregate` when `dueling` is set.
    """

    num_actions: int
    torso: str = "mlp"
    hidden_sizes: Sequence[int] = (128, 128)
    activation: str = "relu"
    layer_norm: bool = False
    dueling: bool = False
    obs_ndim: int = 1

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        features = make_torso(self.torso, self.hidden_sizes, self.activation, self.layer_norm, self.obs_ndim)(
            obs
        )
        if not self.dueling:
            return _dense(self.num_actions, 1.0)(features)
        value = _dense(1, 1.0)(features)[..., 0]
        advantages = _dense(self.num_actions, 1.0)(features)
        return dueling_aggregate(value, advantages)
