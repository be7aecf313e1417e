"""Helpers shared by the benchmark scripts: subprocess isolation, peak memory, machine facts, matmul peak."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from typing import Any


def peak_rss_mib() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_point_in_subprocess(
    script: str, args: list[str], env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run `python script --point ...` in a fresh process (clean peak-memory accounting) and parse the
    JSON it prints as its last line."""
    proc = subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark point {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compiled_bytes(compiled: Any) -> int | None:
    """XLA's own memory accounting of a compiled program: arguments + outputs + temporaries - aliased
    (None where the backend does not report it)."""
    memory = compiled.memory_analysis()
    if memory is None:
        return None
    return (
        memory.argument_size_in_bytes
        + memory.output_size_in_bytes
        + memory.temp_size_in_bytes
        - memory.alias_size_in_bytes
    )


def machine_facts() -> dict[str, Any]:
    import jax

    load1, load5, _ = os.getloadavg()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
        "cpu_count": os.cpu_count(),
        "load_average_1m_5m_at_start": [load1, load5],
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def matmul_flops_per_second(size: int = 1024, repeats: int = 20) -> float:
    """Measured float32 FLOP/s of a large square matmul on the default device (the machine's practical peak
    for dense work)."""
    import jax
    import jax.numpy as jnp

    x = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(x).block_until_ready()
    start = time.perf_counter()
    for _ in range(repeats):
        out = f(x)
    out.block_until_ready()
    return 2.0 * size**3 * repeats / (time.perf_counter() - start)
