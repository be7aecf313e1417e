"""A run's memory against what its devices have free: estimated before compiling, read from XLA after.

The estimate for one run is its training state (parameters, optimiser and env state, replay buffers),
from `jax.eval_shape` of `init`, plus the largest buffer a loop inside one block stacks (a rollout's
`[T, B, ...]` trajectory, an evaluation's episodes), from the block's traced program. Both are exact;
together they are a lower bound for the whole program (activations come on top). A run that cannot fit
even that is refused in seconds with the numbers, instead of compiling for minutes and dying with
RESOURCE_EXHAUSTED.
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


def run_bytes(init: Any, block: Any, hparams: Any, init_args: tuple[Any, ...]) -> tuple[int, int]:
    """`(state, buffers)`: bytes of one run's state and of the largest buffer a loop in one block stacks.

    Both are traced abstractly (`jax.eval_shape`, `jax.make_jaxpr`): nothing is allocated or compiled.
    A scan's stacked outputs (`ys`, such as a rollout's `[T, B, ...]` trajectory) are one buffer that must
    exist whole, on top of the state; carries are left out (XLA may update them in place).

    Args:
        init: the algorithm's `init(key, hparams, *init_args) -> state`.
        block: `block(key, state, hparams) -> (state, metrics)`, one block of updates and its evaluation.
        hparams: one setting's hyperparameters (scalar leaves).
        init_args: one seed's extra init arguments (no leading seed axis).
    """
    key = _abstract_key()
    scalars = jax.tree.map(lambda v: jax.ShapeDtypeStruct(np.shape(v), np.float32), hparams)
    state = jax.eval_shape(init, key, scalars, *init_args)
    program = jax.make_jaxpr(block)(key, state, scalars)
    return tree_bytes(state), _largest_stacked(program.jaxpr)


def _largest_stacked(jaxpr: Any) -> int:
    largest = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "scan":
            stacked = eqn.outvars[eqn.params["num_carry"] :]
            largest = max(largest, tree_bytes([v.aval for v in stacked]))
        for param in eqn.params.values():
            for sub in param if isinstance(param, tuple | list) else (param,):
                inner = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr holds its Jaxpr
                if hasattr(inner, "eqns"):
                    largest = max(largest, _largest_stacked(inner))
    return largest


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
    if n >= 2**27:
        return f"{n / 2**30:.1f} GiB"
    if n >= 2**17:
        return f"{n / 2**20:.1f} MiB"
    return f"{n / 2**10:.1f} KiB" if n >= 2**10 else f"{n:.0f} B"


def check_fits(state_bytes: int, buffer_bytes: int, num_runs: int, devices: Sequence[Any]) -> None:
    """`ValueError` (with the estimate and the limit) if `num_runs` runs cannot fit on `devices`.

    Args:
        state_bytes: one run's training state (`run_bytes`).
        buffer_bytes: one run's largest in-block loop buffer (`run_bytes`).
        num_runs: seeds times sweep settings; split evenly over the devices. CPU devices share the host's
            memory, so their total counts.
    """
    device = devices[0]
    if device.platform == "cpu":
        runs, share = num_runs, f"{num_runs:,} runs"
    else:
        runs = -(-num_runs // len(devices))
        share = f"{runs:,} runs per device"
    need = (state_bytes + buffer_bytes) * runs
    _refuse_above(
        need,
        device,
        f"this run needs at least {_gib(need)} ({share} x ({_gib(state_bytes)} of training state + "
        f"{_gib(buffer_bytes)} of rollout and evaluation buffers))",
    )


def check_compiled(compiled: Any, devices: Sequence[Any]) -> None:
    """`ValueError` if a compiled program's own memory figure exceeds what its devices have free.

    The second check, after compiling and before anything runs: XLA's buffer assignment
    (`memory_analysis`: arguments, outputs and temporaries, per device) is exact where `check_fits` is a
    lower bound, and temporaries such as a vmapped convolution's workspace are invisible before it.
    """
    stats = compiled.memory_analysis()
    if stats is None:  # a backend that does not report it
        return
    inputs = stats.argument_size_in_bytes + stats.output_size_in_bytes - stats.alias_size_in_bytes
    device = devices[0]
    copies = len(devices) if device.platform == "cpu" else 1  # CPU devices share the host's memory
    need = (inputs + stats.temp_size_in_bytes) * copies
    share = f"{len(devices)} devices x " if copies > 1 else "per device: "
    _refuse_above(
        need,
        device,
        f"this run's compiled program needs {_gib(need)} ({share}{_gib(inputs)} of state and inputs + "
        f"{_gib(stats.temp_size_in_bytes)} of temporaries, XLA's figure)",
    )


def _refuse_above(need: int, device: Any, needs: str) -> None:
    """`ValueError` saying `needs`, the limit and what to change, if `need` bytes exceed `device`'s free."""
    have, what = free_bytes(device)
    if need > have:
        raise ValueError(
            f"{needs}, more than the {_gib(have)} of {what}: use fewer seeds or sweep settings, fewer "
            "parallel envs or steps, or more devices"
        )
