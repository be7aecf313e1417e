"""A run's memory, estimated before anything is compiled, against what its devices have free.

The estimate is the training state (parameters, optimiser and env state, replay buffers) of every run,
from `jax.eval_shape` of one run's `init`: exact for the state, a lower bound for the whole program
(activations and rollouts inside an update come on top). A run whose state alone cannot fit is refused
in seconds with both numbers, instead of compiling for minutes and dying with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np


def _abstract_key() -> jax.ShapeDtypeStruct:
    """One typed PRNG key, abstractly (no key is made: keys enter purerl only as arguments)."""
    return jax.eval_shape(jax.random.key, jax.ShapeDtypeStruct((), np.uint32))


def tree_bytes(tree: Any) -> int:
    """Bytes of every array (or `ShapeDtypeStruct`) leaf of `tree`; typed PRNG keys count their data."""
    total = 0
    for x in jax.tree.leaves(tree):
        dtype = x.dtype
        if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
            key_shape = jax.eval_shape(lambda k: jax.random.key_data(k), _abstract_key()).shape
            total += int(np.prod(x.shape, dtype=np.int64)) * int(np.prod(key_shape)) * 4
        else:
            total += int(np.prod(x.shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    return total


def run_state_bytes(init: Any, hparams: Any, init_args: tuple[Any, ...]) -> int:
    """Bytes of one run's state: `init(key, hparams, *init_args)` traced abstractly, nothing allocated.

    Args:
        init: the algorithm's `init(key, hparams, *init_args) -> state`.
        hparams: one setting's hyperparameters (scalar leaves).
        init_args: one seed's extra init arguments (no leading seed axis).
    """
    key = _abstract_key()
    scalars = jax.tree.map(lambda v: jax.ShapeDtypeStruct(np.shape(v), np.float32), hparams)
    return tree_bytes(jax.eval_shape(init, key, scalars, *init_args))


def free_bytes(device: Any) -> tuple[int, str]:
    """`(bytes, what)`: the free memory of an accelerator, or the host's available memory for a CPU."""
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)), f"{device.device_kind} memory"
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024, "available host memory"
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "free host memory"


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**27 else f"{n / 2**20:.1f} MiB"


def check_fits(per_run_bytes: int, num_runs: int, devices: Sequence[Any]) -> None:
    """`ValueError` (with the estimate and the limit) if `num_runs` states cannot fit on `devices`.

    Runs are split evenly over the devices; CPU devices share the host's memory, so their total counts.
    """
    device = devices[0]
    if device.platform == "cpu":
        need, share = per_run_bytes * num_runs, f"{num_runs:,} runs"
    else:
        runs_per_device = -(-num_runs // len(devices))
        need, share = per_run_bytes * runs_per_device, f"{runs_per_device:,} runs per device"
    have, what = free_bytes(device)
    if need > have:
        raise ValueError(
            f"this run's training state alone needs {_gib(need)} ({share} x {_gib(per_run_bytes)}), more "
            f"than the {_gib(have)} of {what}: use fewer seeds or sweep settings, or more devices"
        )
