"""`purerl.train`: what `purerl train` does, from Python (the CLI calls this same function)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def train(
    algo: str,
    env: str,
    seeds: int = 16,
    *,
    seed: int = 0,
    sweep: Mapping[str, Sequence[float]] | None = None,
    out: str | None = None,
    devices: Sequence[Any] | None = None,
    run_options: Mapping[str, Any] | None = None,
    target: float | None = None,
    tensorboard: bool = False,
    **overrides: Any,
) -> Any:
    """Train `algo` on `env` over `seeds` seeds with its tuned preset, like `purerl train`.

    Args:
        algo: a registered algorithm name (`purerl algos`).
        env: a registered environment name (`purerl envs`).
        seeds: number of seeds.
        seed: base seed; seed `s` trains from `split(key(seed), seeds)[s]`.
        sweep: hyperparameter grid run in the same program, e.g. `{"learning_rate": [1e-4, 3e-4]}`.
        out: results directory (config, metrics, summary, plot, checkpoints), as `--out`.
        devices: devices to shard the runs over; by default the CLI's layout (this host's devices, on a
            CPU at most one per two runs; `purerl.cli.use_cpu_cores_as_devices()` before JAX starts
            gives one CPU device per core, as the CLI does).
        run_options: further `runner.run` options (`num_chunks`, `checkpoint_every`, `resume`, ...).
        target: the return a seed must reach to count in `fraction_at_target`; None takes the env's
            conventional threshold (`purerl.targets`).
        tensorboard: write TensorBoard event files to `out/tensorboard/` after every chunk.
        **overrides: config or hyperparameter fields, on top of the preset (as `--set`).

    Returns:
        The `runner.RunResult`.
    """
    import numpy as np

    from purerl.agents import get_algorithm
    from purerl.runner import run, stack_hparams

    spec = get_algorithm(algo)
    config, hparams = spec.preset(env, **overrides)
    settings = None
    if sweep:
        stacked, settings = stack_hparams(spec.hparams_cls, hparams, sweep)  # names, lists of numbers
        # Values checked as typed (float64), so a message shows 0.9 rather than its float32 rounding.
        spec.validate_hparams(hparams._replace(**{k: np.asarray(v) for k, v in sweep.items()}))
        hparams = stacked
    if devices is None:
        from purerl.cli import local_devices_for

        devices = local_devices_for(seeds * (len(settings) if settings else 1))
    return run(
        config,
        hparams,
        seeds,
        seed=seed,
        sweep_settings=settings,
        out_dir=out,
        devices=devices,
        **{"target": target, "tensorboard": tensorboard, **(run_options or {})},
    )
