"""Many seeds x many hyperparameter settings in one compiled program, run in chunks.

`run(...)` compiles `init` and a *chunk* (a fixed number of evaluation blocks) once, vmapped over seeds
and, for sweeps, over stacked hyperparameters, then calls the chunk repeatedly. Between chunks the host
updates a progress bar. Chunked and single-call (`jax.vmap(train)`) runs give identical results: block
`b` always draws its key as `fold_in(loop_key, b)`.

Result arrays keep leading `[hparam, seed]` axes for sweeps and `[seed]` otherwise.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from purerl import io, stats
from purerl.agents import get_algorithm
from purerl.loop import Agent, run_blocks, split_run_key


class RunResult(NamedTuple):
    """What `run` returns.

    Attributes:
        summary: JSON-ready summary (the content of `summary.json`).
        metrics: host NumPy arrays, `[(H,) S, num_blocks, ...]`.
        state: final training state, leading `[(H,) S]` axes, on device.
        env_steps: `[num_blocks]` env steps per seed at the end of each block.
    """

    summary: dict[str, Any]
    metrics: dict[str, np.ndarray]
    state: Any
    env_steps: np.ndarray


def stack_hparams(
    hparams_cls: type, base: Any, sweep: Mapping[str, Sequence[float]]
) -> tuple[Any, list[dict]]:
    """Grid over `sweep` (field -> values): returns HParams with `[H]` leaves and one dict per setting."""
    for name in sweep:
        if name not in hparams_cls._fields:
            raise ValueError(
                f"cannot sweep {name!r}: not a hyperparameter; valid: {', '.join(hparams_cls._fields)}"
            )
    names = list(sweep)
    settings = [dict(zip(names, values, strict=True)) for values in itertools.product(*sweep.values())]
    columns = {
        field: np.asarray([s.get(field, getattr(base, field)) for s in settings], np.float32)
        for field in hparams_cls._fields
    }
    return hparams_cls(**columns), settings


def _choose_chunk_blocks(num_blocks: int, num_chunks: int) -> int:
    """Largest block count per chunk that divides `num_blocks` into at least `num_chunks` chunks, so every
    chunk has the same shape and compiles once."""
    target = max(1, num_blocks // max(1, num_chunks))
    return max(d for d in range(1, target + 1) if num_blocks % d == 0)


def _vmapped(fn, swept: bool, seed_axes: tuple, hparam_axes: tuple):
    fn = jax.vmap(fn, in_axes=seed_axes)
    return jax.vmap(fn, in_axes=hparam_axes) if swept else fn


def run(
    algo: str,
    config: Any,
    hparams: Any,
    num_seeds: int,
    *,
    seed: int = 0,
    swept: bool = False,
    sweep_settings: list[dict] | None = None,
    num_chunks: int = 20,
    out_dir: str | Path | None = None,
    progress: bool = True,
) -> RunResult:
    """Train `num_seeds` seeds (x every stacked hparam setting if `swept`) and summarise.

    Args:
        algo: registered algorithm name.
        config: the algorithm's static config.
        hparams: the algorithm's HParams; with `swept=True` every leaf has a leading `[H]` axis.
        num_seeds: seeds per setting; seed `i` uses `split(PRNGKey(seed), num_seeds)[i]` for every setting.
        seed: base seed.
        num_chunks: progress/checkpoint granularity (rounded so chunks have equal size).
        out_dir: if given, write `config.json`, `metrics.npz`, `summary.json`, `learning_curve.png`.
        progress: show a tqdm progress bar.
    """
    spec = get_algorithm(algo)
    if not isinstance(config, spec.config_cls):
        raise ValueError(f"config must be a {spec.config_cls.__name__}, got {type(config).__name__}")
    if isinstance(num_seeds, bool) or not isinstance(num_seeds, int) or num_seeds < 1:
        raise ValueError(f"num_seeds must be a positive integer, got {num_seeds!r}")
    spec.validate_hparams(hparams)
    agent: Agent = spec.make_agent(config)
    hparams = jax.tree.map(jnp.asarray, hparams)
    num_settings = len(jax.tree.leaves(hparams)[0]) if swept else 1

    keys = jax.random.split(jax.random.key(seed), num_seeds)
    init_keys, loop_keys = jax.vmap(split_run_key, out_axes=(0, 0))(keys)
    hp_axis = (None, 0)

    init_fn = jax.jit(_vmapped(agent.init, swept, (0, None), hp_axis))
    chunk_blocks = _choose_chunk_blocks(agent.num_blocks, num_chunks)

    def chunk(state, hparams, loop_key, start):
        indices = start + jnp.arange(chunk_blocks, dtype=jnp.int32)
        return run_blocks(agent, state, hparams, loop_key, indices)

    chunk_fn = jax.jit(_vmapped(chunk, swept, (0, None, 0, None), (0, 0, None, None)), donate_argnums=0)

    t0 = time.perf_counter()
    init_compiled = init_fn.lower(init_keys, hparams).compile()
    state = init_compiled(init_keys, hparams)
    start0 = jnp.asarray(0, jnp.int32)
    chunk_compiled = chunk_fn.lower(state, hparams, loop_keys, start0).compile()
    compile_seconds = time.perf_counter() - t0

    steps_per_block = agent.eval_every * agent.env_steps_per_update
    total_env_steps = agent.num_blocks * steps_per_block * num_seeds * num_settings
    bar = _progress_bar(total_env_steps, algo, config, progress)
    chunks = []
    t_run = time.perf_counter()
    for start in range(0, agent.num_blocks, chunk_blocks):
        state, metrics = chunk_compiled(state, hparams, loop_keys, jnp.asarray(start, jnp.int32))
        metrics = jax.device_get(metrics)  # syncs: the host sees finished chunks only
        chunks.append(metrics)
        if bar is not None:
            bar.update(chunk_blocks * steps_per_block * num_seeds * num_settings)
            latest = np.asarray(metrics["eval_return"])[..., -1]
            finite = latest[np.isfinite(latest)]
            bar.set_postfix_str(f"eval IQM {stats.iqm(finite):.1f}" if finite.size else "eval IQM nan")
    jax.block_until_ready(state)
    run_seconds = time.perf_counter() - t_run
    if bar is not None:
        bar.close()

    block_axis = 2 if swept else 1
    metrics = {k: np.concatenate([c[k] for c in chunks], axis=block_axis) for k in chunks[0]}
    env_steps = (np.arange(agent.num_blocks) + 1) * steps_per_block
    summary = _summarize(
        algo,
        config,
        hparams,
        metrics,
        num_seeds,
        agent,
        swept,
        sweep_settings,
        seed,
        compile_seconds,
        run_seconds,
        total_env_steps,
    )
    result = RunResult(summary, metrics, state, env_steps)
    if out_dir is not None:
        save_results(Path(out_dir), result, config, hparams, swept, sweep_settings)
    return result


def _progress_bar(total: int, algo: str, config: Any, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    env_name = getattr(config, "env_name", "")
    return tqdm(total=total, desc=f"{algo} {env_name}", unit=" steps", unit_scale=True, dynamic_ncols=True)


def _summarize(
    algo,
    config,
    hparams,
    metrics,
    num_seeds,
    agent,
    swept,
    sweep_settings,
    seed,
    compile_seconds,
    run_seconds,
    total_env_steps,
) -> dict[str, Any]:
    final = np.asarray(metrics["eval_return"])[..., -1]  # [(H,) S]
    summary: dict[str, Any] = {
        "algo": algo,
        "env": getattr(config, "env_name", None),
        "num_seeds": num_seeds,
        "seed": seed,
        "total_timesteps": agent.num_blocks * agent.eval_every * agent.env_steps_per_update,
        "num_updates": agent.num_updates,
        "eval_every": agent.eval_every,
        "compile_seconds": compile_seconds,
        "run_seconds": run_seconds,
        "env_steps_per_second": total_env_steps / run_seconds,
        "devices": [str(d) for d in jax.devices()],
    }
    if swept:
        summary["sweep"] = [
            {"hparams": setting, "final_return": stats.summarize(final[i])}
            for i, setting in enumerate(sweep_settings)
        ]
        best = int(np.argmax([s["final_return"]["iqm"] for s in summary["sweep"]]))
        summary["best_setting"] = best
        summary["final_return"] = summary["sweep"][best]["final_return"]
    else:
        summary["final_return"] = stats.summarize(final)
    return summary


def save_results(
    out_dir: Path,
    result: RunResult,
    config: Any,
    hparams: Any,
    swept: bool,
    sweep_settings: list[dict] | None,
) -> None:
    """Write the results directory (every file atomically)."""
    from purerl import plots

    summary = result.summary
    io.write_json(
        out_dir / "config.json",
        {
            "algo": summary["algo"],
            "config": dataclasses.asdict(config),
            "hparams": {k: np.asarray(v).tolist() for k, v in hparams._asdict().items()},
            "num_seeds": summary["num_seeds"],
            "seed": summary["seed"],
            "sweep": sweep_settings,
        },
    )
    io.save_npz(out_dir / "metrics.npz", env_steps=result.env_steps, **result.metrics)
    io.write_json(out_dir / "summary.json", summary)
    eval_return = result.metrics["eval_return"]
    if swept:
        curves = {
            ", ".join(f"{k}={v:g}" for k, v in s.items()): (result.env_steps, eval_return[i])
            for i, s in enumerate(sweep_settings)
        }
    else:
        curves = {summary["algo"]: (result.env_steps, eval_return)}
    title = f"{summary['algo']} on {summary['env']} ({summary['num_seeds']} seeds)"
    plots.plot_learning_curves(
        curves, out_dir / "learning_curve.png", ylabel="evaluation return", title=title
    )
