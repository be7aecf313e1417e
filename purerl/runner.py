"""Many seeds x many hyperparameter settings in one compiled program: chunked, checkpointed, sharded.

`run(config, hparams, num_seeds)` compiles an *init* program and a *chunk* program (a fixed number of
evaluation blocks) once and calls the chunk repeatedly. Between chunks the host updates a progress bar
and may write a checkpoint (`purerl.checkpoints`); the results directory (record, lock, summary, result
files) is `purerl.results`.

Runs. Every (hyperparameter setting, seed) pair is a *run*. Runs lie on one flat axis, run
`r = h * num_seeds + s`, each with its own row of hyperparameters, so a sweep and a plain run are the same
program and the run axis is the one axis to shard. Result arrays are reshaped back to leading
`[hparam, seed]` axes for sweeps and `[seed]` otherwise. A sweep is recognised by its hyperparameters:
every leaf a scalar is one setting, every leaf an `[H]` array (`stack_hparams`) is `H` settings.

Seeds. Seed `s` trains from `split(key(seed), num_seeds)[s]` in every setting. With JAX's default
partitionable threefry, element `s` of a split does not depend on how many keys are split, so seed `s`
is the same run whichever `num_seeds` it is launched with. Block `b` of a run draws
`fold_in(loop_key, b)`, so the chunking does not matter either.

Devices. The run axis is sharded over a 1-D `Mesh` of all devices (`jax.devices()`, every host's after
`jax.distributed.initialize()`) with a `NamedSharding`; runs never communicate, so XLA partitions the
program without collectives. The run axis is *padded*, never required to divide: it is rounded up to a
multiple of the device count with at least two runs per device; padding runs repeat the last real run and
are dropped from every result. (Two, because XLA:CPU compiles a batch of one differently.) Measured on
CPU: results are bit-identical for any number of seeds run together, and between any two multi-device
meshes (2 vs 4 devices); one device versus several differs by about an ulp in some parameter updates
(see `docs/long_runs.md`).

Divergence. `loop.run_blocks` freezes a run whose state or metrics stop being finite; the summary lists
the diverged seeds and computes statistics over the healthy ones.

Checkpoints. With an `out_dir`, the full training state of every run is saved after every
`checkpoint_every` chunks and on the chunk where a run stops early (`stop_after_chunks`), with the
metrics of the completed blocks. `resume=True` continues from the latest checkpoint and gives
bit-identical final parameters and metrics to an uninterrupted run; on a complete run it returns the
saved results and writes nothing.

Reporting. Each setting is labelled by what distinguishes it from the algorithm's preset
(`purerl.labels`); the summary gives every setting's final-return IQM [95% CI], mean and the fraction of
seeds reaching the env's target (`purerl.targets`, or `target=`). With `tensorboard=True` the host writes
TensorBoard event files after every chunk (`purerl.tensorboard`), never from inside the program.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from purerl import io, labels, memory, results, stats
from purerl.agents import algorithm_for_config
from purerl.checkpoints import Checkpoints, check_meta, resume_chunk_blocks, state_layout
from purerl.loop import Agent, run_block, run_blocks, split_run_key
from purerl.results import (
    FORMAT_VERSION,
    TENSORBOARD_DIR,
    RunResult,
    check_out_dir,
    claim_out_dir,
    clear_run_files,
    prepare_out_dir,
    read_complete,
    record_digest,
    run_record,
    save_results,
    summarize,
)
from purerl.targets import Target, resolve_target

RUN_AXIS = "runs"
# XLA:CPU compiles a batch of one run differently (last-bit differences); two per device avoids it.
MIN_RUNS_PER_DEVICE = 2
_MAX_SEED = 2**32

__all__ = ["MIN_RUNS_PER_DEVICE", "RunLayout", "RunResult", "plan_runs", "run", "stack_hparams"]


def stack_hparams(
    hparams_cls: type, base: Any, sweep: Mapping[str, Sequence[float]]
) -> tuple[Any, list[dict]]:
    """Grid over `sweep` (field -> values): returns HParams with `[H]` leaves and one dict per setting."""
    for name in sweep:
        if name not in hparams_cls._fields:
            raise ValueError(
                f"cannot sweep {name!r}: not a hyperparameter; valid: {', '.join(hparams_cls._fields)}"
            )
        values = sweep[name]
        # A scalar or a string would be iterated (or not) into a confusing grid: name the mistake.
        if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
            raise ValueError(f"sweep {name!r} must be a list of numbers, got {values!r}")
        if len(values) == 0:
            raise ValueError(f"sweep {name!r} has no values: give at least one")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
                raise ValueError(f"sweep {name!r} must be a list of numbers, got {list(values)!r}")
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


# ----------------------------------------------------------------------------------------------------
# Run layout


class RunLayout(NamedTuple):
    """How the `H x S` real runs sit on the padded run axis.

    Attributes:
        num_settings: `H` (1 without a sweep).
        num_seeds: `S`.
        num_runs: padded length of the run axis (a multiple of the device count).
        setting_index: `[num_runs]` setting of each run (padding repeats the last real run).
        seed_index: `[num_runs]` seed of each run.
    """

    num_settings: int
    num_seeds: int
    num_runs: int
    setting_index: np.ndarray
    seed_index: np.ndarray

    @property
    def num_real(self) -> int:
        return self.num_settings * self.num_seeds


def plan_runs(num_settings: int, num_seeds: int, num_devices: int, num_runs: int | None = None) -> RunLayout:
    """Lay out `num_settings * num_seeds` runs over `num_devices` devices.

    Args:
        num_settings: hyperparameter settings `H`.
        num_seeds: seeds per setting `S`.
        num_devices: devices the run axis is sharded over.
        num_runs: padded length to use (e.g. the one a checkpoint was saved with); by default the smallest
            multiple of `num_devices` holding every run with at least `MIN_RUNS_PER_DEVICE` per device.
    """
    real = num_settings * num_seeds
    if num_runs is None:
        per_device = max(MIN_RUNS_PER_DEVICE, math.ceil(real / num_devices))
        num_runs = per_device * num_devices
    elif num_runs < real or num_runs % num_devices:
        raise ValueError(
            f"a run axis of {num_runs} cannot hold {real} runs on {num_devices} devices "
            f"(it must be >= {real} and divisible by {num_devices})"
        )
    run = np.minimum(np.arange(num_runs), real - 1)
    return RunLayout(num_settings, num_seeds, num_runs, run // num_seeds, run % num_seeds)


def to_result_layout(x: Any, layout: RunLayout, swept: bool) -> Any:
    """`[num_runs, ...]` -> `[H, S, ...]` (sweep) or `[S, ...]`, dropping padding runs."""
    x = x[: layout.num_real]
    return x.reshape((layout.num_settings, layout.num_seeds, *x.shape[1:])) if swept else x


# ----------------------------------------------------------------------------------------------------
# Input checks (host side, before anything is traced)


def _check_int(name: str, value: Any, low: int, high: int | None = None, note: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        ok = False
    else:
        ok = value >= low and (high is None or value < high)
    if not ok:
        valid = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high})"
        raise ValueError(f"{name} must be {valid}{note}, got {value!r}")


def sweep_size(hparams: Any, sweep_settings: list[dict] | None = None) -> int | None:
    """None if every hparam leaf is a scalar (one setting), `H` if every leaf has shape `[H]` (a sweep).

    Raises:
        ValueError: mixed or other shapes, or `sweep_settings` that do not fit.
    """
    shapes = {name: np.shape(value) for name, value in hparams._asdict().items()}
    if all(s == () for s in shapes.values()):
        if sweep_settings is not None:
            raise ValueError("sweep_settings is given but every hparam is a scalar (no sweep): drop it")
        return None
    lengths = {s[0] if len(s) == 1 else None for s in shapes.values()}
    if len(lengths) != 1 or None in lengths:
        raise ValueError(
            "hparams must be all scalars (one setting) or all [H] arrays with the same H (a sweep, e.g. "
            f"from stack_hparams), got shapes {shapes}"
        )
    (num,) = lengths
    if sweep_settings is not None and len(sweep_settings) != num:
        raise ValueError(f"sweep_settings has {len(sweep_settings)} entries for H={num} hparam settings")
    return num


def _check_init_args(init_args: tuple[Any, ...], num_seeds: int) -> None:
    for i, arg in enumerate(init_args):
        for leaf in jax.tree.leaves(arg):
            if np.ndim(leaf) == 0 or np.shape(leaf)[0] != num_seeds:
                raise ValueError(
                    f"init_args[{i}] leaves need a leading [num_seeds={num_seeds}] axis, got shape "
                    f"{np.shape(leaf)}"
                )


# ----------------------------------------------------------------------------------------------------
# Host <-> global arrays (multi-host safe)


def _to_global(tree: Any, sharding: NamedSharding) -> Any:
    """Host NumPy leaves (identical on every process) -> global arrays sharded on their first axis."""

    def put(x):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    return jax.tree.map(put, tree)


def _to_host(tree: Any) -> Any:
    """Global arrays -> host NumPy, gathering other processes' shards on multi-host runs."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


def _sync_processes(name: str) -> None:
    """Barrier over every process of a multi-host run (nothing on one host)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _canonical(x: Any) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(jax.dtypes.canonicalize_dtype(x.dtype))


# ----------------------------------------------------------------------------------------------------
# Compiled programs (cached: tests and sweeps of the same shape compile once per process)


class _Program:
    """The jitted init/chunk functions of one (agent, layout, devices) and their compiled forms."""

    def __init__(
        self,
        agent: Agent,
        mesh: Mesh,
        chunk_blocks: int,
        num_init_args: int,
        debug_nans: bool,
        compiler_options: dict[str, Any],
    ):
        self.runs = NamedSharding(mesh, P(RUN_AXIS))
        self.devices = list(mesh.devices.flat)
        replicated = NamedSharding(mesh, P())
        self.debug_nans = debug_nans
        self.compiler_options = compiler_options or None

        def init_one(key_data, hparams, *init_args):
            init_key, _ = split_run_key(jax.random.wrap_key_data(key_data))
            return agent.init(init_key, hparams, *init_args), jnp.asarray(True)

        def loop_key_one(key_data):
            _, loop_key = split_run_key(jax.random.wrap_key_data(key_data))
            return jax.random.key_data(loop_key)

        def chunk_one(state, healthy, hparams, loop_key_data, start):
            indices = start + jnp.arange(chunk_blocks, dtype=jnp.int32)
            loop_key = jax.random.wrap_key_data(loop_key_data)
            (state, healthy), metrics = run_blocks(agent, (state, healthy), hparams, loop_key, indices)
            return state, healthy, metrics

        self.init_jit = jax.jit(
            jax.vmap(init_one), in_shardings=(self.runs,) * (2 + num_init_args), out_shardings=self.runs
        )
        self.loop_keys = jax.jit(jax.vmap(loop_key_one), in_shardings=self.runs, out_shardings=self.runs)
        self.chunk_jit = jax.jit(
            jax.vmap(chunk_one, in_axes=(0, 0, 0, 0, None)),
            in_shardings=(self.runs, self.runs, self.runs, self.runs, replicated),
            out_shardings=self.runs,
            donate_argnums=(0, 1),
        )
        self.start_aval = jax.ShapeDtypeStruct((), jnp.int32, sharding=replicated)
        self._init_compiled = None
        self._chunk_compiled = None

    def abstract(self, tree: Any) -> Any:
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=self.runs), tree)

    def init(self, *args: Any) -> tuple[Any, Any]:
        if self.debug_nans:
            return self.init_jit(*args)
        if self._init_compiled is None:
            lowered = self.init_jit.lower(*self.abstract(args))
            self._init_compiled = lowered.compile(compiler_options=self.compiler_options)
        return self._init_compiled(*args)

    def compile_chunk(self, state_aval: Any, healthy_aval: Any, hparams: Any, loop_key_data: Any) -> None:
        if not self.debug_nans and self._chunk_compiled is None:
            avals = self.abstract((state_aval, healthy_aval, hparams, loop_key_data))
            lowered = self.chunk_jit.lower(*avals, self.start_aval)
            compiled = lowered.compile(compiler_options=self.compiler_options)
            memory.check_compiled(compiled, self.devices)  # before the state is allocated
            self._chunk_compiled = compiled

    def chunk(self, *args: Any) -> tuple[Any, Any, dict[str, jax.Array]]:
        return (self.chunk_jit if self.debug_nans else self._chunk_compiled)(*args)


_PROGRAMS: dict[tuple, _Program] = {}
_MAX_CACHED_PROGRAMS = 4


def _get_program(
    algo: str,
    config: Any,
    agent: Agent,
    devices: list,
    chunk_blocks: int,
    signature: tuple,
    debug_nans: bool,
    compiler_options: dict[str, Any],
) -> tuple[_Program, bool]:
    options_key = tuple(sorted((k, str(v)) for k, v in compiler_options.items()))
    key = (algo, config, tuple(d.id for d in devices), chunk_blocks, signature, debug_nans, options_key)
    try:
        cached = _PROGRAMS.get(key)
    except TypeError:  # an unhashable config: no caching
        key, cached = None, None
    if cached is not None:
        return cached, True
    mesh = Mesh(np.asarray(devices), (RUN_AXIS,))
    program = _Program(agent, mesh, chunk_blocks, signature[-1], debug_nans, compiler_options)
    if key is not None:
        if len(_PROGRAMS) >= _MAX_CACHED_PROGRAMS:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
        _PROGRAMS[key] = program
    return program, False


def _signature(tree: Any) -> tuple:
    leaves, treedef = jax.tree.flatten(tree)
    return (str(treedef), tuple((np.shape(x), str(np.asarray(x).dtype)) for x in leaves))


# ----------------------------------------------------------------------------------------------------
# The runner


@dataclasses.dataclass(frozen=True)
class _Job:
    """The validated arguments of one `run` call."""

    spec: Any
    config: Any
    agent: Agent  # built once: the memory check and the plan both need it
    hparams: Any
    num_seeds: int
    seed: int
    sweep_settings: list[dict] | None
    num_settings: int
    swept: bool
    init_args: tuple[Any, ...]
    record: dict
    num_chunks: int
    progress: bool
    checkpoint_every: int
    keep_checkpoints: int
    overwrite: bool
    stop_after_chunks: int | None
    devices: list
    debug_nans: bool
    compiler_options: dict[str, Any]
    labels: list[str]  # [H] (or [1]) setting labels
    target: Target | None
    tensorboard: bool


class _Plan(NamedTuple):
    """What a run is before its chunk program is compiled: layout, program, sharded inputs, checkpoint."""

    started: float  # time.perf_counter() when planning began (compile_seconds counts from here)
    agent: Agent
    layout: RunLayout
    chunk_blocks: int
    program: _Program
    cached: bool
    key_data: Any  # global [num_runs, *key_shape] uint32
    hparams: Any  # global, [num_runs] leaves
    init_args: tuple[Any, ...]  # global, [num_runs, ...] leaves
    state_aval: Any
    healthy_aval: Any
    meta: dict  # the checkpoint metadata this run writes (less next_block) and a resume must match
    checkpoints: Checkpoints | None
    resume_step: int | None  # the checkpoint to resume from


def run(
    config: Any,
    hparams: Any = None,
    num_seeds: int = 16,
    *,
    seed: int = 0,
    sweep_settings: list[dict] | None = None,
    num_chunks: int = 20,
    out_dir: str | Path | None = None,
    progress: bool = True,
    init_args: tuple[Any, ...] = (),
    checkpoint_every: int = 1,
    keep_checkpoints: int = 2,
    resume: bool = False,
    overwrite: bool = False,
    stop_after_chunks: int | None = None,
    devices: Sequence[Any] | None = None,
    debug_nans: bool = False,
    compiler_options: Mapping[str, Any] | None = None,
    target: float | None = None,
    tensorboard: bool = False,
) -> RunResult:
    """Train `num_seeds` seeds (x every stacked hparam setting) of the algorithm of `config` and summarise.

    Args:
        config: a registered algorithm's static config; it names the algorithm (`algorithm_for_config`).
        hparams: the algorithm's HParams, None for its defaults. Every leaf a scalar: one setting; every
            leaf an `[H]` array (`stack_hparams`): a sweep of `H` settings, results get a leading `[H]`.
        num_seeds: seeds per setting; seed `s` uses `split(key(seed), num_seeds)[s]` in every setting.
        seed: base seed, in `[0, 2**32)`.
        sweep_settings: for a sweep, one dict per setting (labels for tables and plots).
        num_chunks: progress/checkpoint granularity (rounded so chunks have equal size; a resumed run
            keeps the chunk size it was started with).
        out_dir: results directory (created if missing, checked and locked before anything is
            compiled): `config.json` at the start, checkpoints during the run, `metrics.npz`,
            `summary.json`, `learning_curve.png` at the end (see `purerl.results`). A directory that
            already holds a run is refused unless `resume` or `overwrite`, and one in use by another
            run always is.
        progress: show a tqdm progress bar.
        init_args: extra per-seed arguments of `agent.init` (e.g. PPO's bootstrap `init_params`, BC's
            demonstrations), every leaf with a leading `[num_seeds]` axis; shared by all hparam settings.
        checkpoint_every: checkpoint after every this many chunks and after the last one; 0 only on the
            chunk where `stop_after_chunks` stops the run. Needs `out_dir`.
        keep_checkpoints: how many of the latest checkpoints to keep.
        resume: continue the run in `out_dir` from its latest checkpoint (its `config.json` must match
            this call exactly); a directory without a run starts one, so a requeued job can always pass
            it; a complete run is returned as saved (`summary.json`, `metrics.npz`, the state of its
            last checkpoint or None), with nothing written.
        overwrite: discard a run already in `out_dir`.
        stop_after_chunks: run at most this many chunks in this call, checkpoint (with `out_dir`), and
            return a partial result (`summary["complete"]` False); resume later.
        devices: devices to shard the runs over (default: `jax.devices()`, every host's).
        debug_nans: run under `jax.debug_nans` (uncompiled dispatch, slow): the first operation that
            produces a NaN raises `FloatingPointError`, instead of the seed being frozen.
        compiler_options: XLA options for compiling the programs, e.g.
            `{"xla_backend_optimization_level": 0}` compiles a CPU program about 3x faster and runs it
            slower (what the test suite uses for its tiny runs).
        target: the return a seed must reach (`>=`) to count in the summary's `fraction_at_target`;
            None takes the env's conventional threshold from `purerl.targets` (none known: no fraction).
        tensorboard: write TensorBoard event files to `out_dir/tensorboard/` after every chunk
            (`purerl.tensorboard`; needs `out_dir` and the `tensorboard` package).

    Returns:
        The `RunResult`: summary, metrics, final state, env steps and health of every run.

    Raises:
        ValueError: on any invalid argument, config or hyperparameter, or a results directory that is
            not a writable directory, is in use, or holds another run (all before anything is
            compiled); a corrupt or mismatched checkpoint (before anything is overwritten).
    """
    spec = algorithm_for_config(config)
    hparams = spec.hparams_cls() if hparams is None else hparams
    if not isinstance(hparams, spec.hparams_cls):
        raise ValueError(f"hparams must be a {spec.hparams_cls.__name__}, got {type(hparams).__name__}")
    _check_int("num_seeds", num_seeds, 1, 2**31, " (run indices are int32)")
    _check_int("seed", seed, 0, _MAX_SEED)
    _check_int("num_chunks", num_chunks, 1)
    _check_int("checkpoint_every", checkpoint_every, 0, note=" (0 = only when stopping early)")
    _check_int("keep_checkpoints", keep_checkpoints, 1)
    if stop_after_chunks is not None:
        _check_int("stop_after_chunks", stop_after_chunks, 1, note=" or None")
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: continue the saved run or replace it")
    if resume and out_dir is None:
        raise ValueError("resume=True needs the results directory of the run (out_dir / --out)")
    if tensorboard and out_dir is None:
        raise ValueError("tensorboard=True (--tensorboard) needs the results directory (out_dir / --out)")
    if tensorboard:
        from purerl.tensorboard import require_tensorboard

        require_tensorboard()
    run_target = resolve_target(getattr(config, "env_name", None), target)
    spec.validate_hparams(hparams)
    num_settings = sweep_size(hparams, sweep_settings)
    _check_init_args(init_args, num_seeds)
    init_args = jax.tree.map(_canonical, tuple(init_args))
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must not be empty")
    job = _Job(
        spec=spec,
        config=config,
        agent=spec.make_agent(config),
        hparams=hparams,
        num_seeds=num_seeds,
        seed=seed,
        sweep_settings=sweep_settings,
        num_settings=num_settings or 1,
        swept=num_settings is not None,
        init_args=init_args,
        record=run_record(spec.name, config, hparams, num_seeds, seed, sweep_settings, init_args),
        num_chunks=num_chunks,
        progress=progress,
        checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints,
        overwrite=overwrite,
        stop_after_chunks=stop_after_chunks,
        devices=devices,
        debug_nans=debug_nans,
        compiler_options=dict(compiler_options or {}),
        labels=labels.setting_labels(spec, config, hparams, sweep_settings, num_settings),
        target=run_target,
        tensorboard=bool(tensorboard),
    )
    _check_memory(job)  # before the seed keys (one per run) are even made
    if out_dir is None:
        return _execute(job, _plan(job, None, resuming=False), None, write_record=False)
    out = prepare_out_dir(out_dir)
    if resume:
        done = _read_complete_run(job, out)
        if done is not None:
            return done
    # Process 0 writes every non-orbax file, so it alone holds the lock; the barrier keeps the other
    # processes from reading the directory after process 0 started writing into it.
    with claim_out_dir(out) if jax.process_index() == 0 else contextlib.nullcontext():
        saved_record = check_out_dir(out, job.record, resume, overwrite)
        _sync_processes("purerl.runner: results directory checked")
        plan = _plan(job, out, resuming=saved_record is not None)
        return _execute(job, plan, out, write_record=saved_record is None)


def _check_memory(job: _Job) -> None:
    """Refuse a run that cannot fit its devices (`purerl.memory`), in seconds, before compiling."""
    one_setting = jax.tree.map(lambda v: np.asarray(v).reshape(-1)[0], job.hparams)
    one_seed = jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x)[1:], x.dtype), job.init_args)
    state_bytes, buffer_bytes = memory.run_bytes(
        job.agent.init, functools.partial(run_block, job.agent), one_setting, one_seed
    )
    memory.check_fits(state_bytes, buffer_bytes, job.num_settings * job.num_seeds, job.devices)


def _plan(job: _Job, out: Path | None, resuming: bool) -> _Plan:
    """Layout, program and sharded inputs of a run; for a resumed one, its checkpoint's metadata first
    (it fixes the chunk size and the run-axis padding) and checked against this run."""
    started = time.perf_counter()
    agent = job.agent
    checkpoints = Checkpoints(out, job.keep_checkpoints) if out is not None else None
    resume_step = meta = where = None
    if resuming and (out / results.CHECKPOINT_DIR).exists():
        steps = checkpoints.steps()
        if steps:
            resume_step = steps[-1]
            meta = checkpoints.read_meta(resume_step)
            where = checkpoints.describe(resume_step)
    if meta is not None:
        layout = plan_runs(job.num_settings, job.num_seeds, len(job.devices), meta.get("num_runs"))
        chunk_blocks = resume_chunk_blocks(meta, where, agent.num_blocks)
    else:
        layout = plan_runs(job.num_settings, job.num_seeds, len(job.devices))
        chunk_blocks = _choose_chunk_blocks(agent.num_blocks, job.num_chunks)

    # Per-run inputs, built on the host (identical on every process) and sharded on the run axis.
    seed_keys = jax.random.split(jax.random.key(job.seed), job.num_seeds)
    run_key_data = np.asarray(jax.random.key_data(seed_keys))[layout.seed_index]
    if job.swept:
        run_hparams = jax.tree.map(lambda v: _canonical(v)[layout.setting_index], job.hparams)
    else:
        run_hparams = jax.tree.map(lambda v: np.full(layout.num_runs, _canonical(v)), job.hparams)
    run_init_args = jax.tree.map(lambda x: x[layout.seed_index], job.init_args)
    signature = (_signature((run_hparams, run_init_args)), len(job.init_args))
    program, cached = _get_program(
        job.spec.name,
        job.config,
        agent,
        job.devices,
        chunk_blocks,
        signature,
        job.debug_nans,
        job.compiler_options,
    )
    key_data = _to_global(run_key_data, program.runs)
    hparams = _to_global(run_hparams, program.runs)
    init_args = _to_global(run_init_args, program.runs)
    state_aval, healthy_aval = jax.eval_shape(program.init_jit, key_data, hparams, *init_args)
    expected = {
        "format": FORMAT_VERSION,
        "num_blocks": agent.num_blocks,
        "num_runs": layout.num_runs,
        "chunk_blocks": chunk_blocks,
        "record_sha256": record_digest(job.record),
        "state_layout": state_layout(state_aval),
    }
    if meta is not None:  # checked before compiling: a mismatch fails in seconds
        check_meta(meta, where, expected, resume_step, agent.num_blocks)
    return _Plan(
        started,
        agent,
        layout,
        chunk_blocks,
        program,
        cached,
        key_data,
        hparams,
        init_args,
        state_aval,
        healthy_aval,
        expected,
        checkpoints,
        resume_step,
    )


def _read_complete_run(job: _Job, out: Path) -> RunResult | None:
    """The saved result of a complete run in `out` that matches `job` (None if there is none), read
    without writing anything: its summary and metrics files and the state of its final checkpoint."""
    if check_out_dir(out, job.record, resume=True, overwrite=False) is None:
        return None
    done = read_complete(out)
    if done is None:
        return None
    summary, metrics, env_steps = done
    plan = _plan(job, out, resuming=True)
    state = None
    if plan.resume_step == plan.agent.num_blocks:  # no final checkpoint with checkpoint_every=0
        state, _, _ = plan.checkpoints.restore(
            plan.resume_step, plan.program.runs, plan.state_aval, plan.healthy_aval
        )
        state = _state_out(state, plan.layout, job.swept)
    healthy = metrics["healthy"][..., -1].astype(bool)
    return RunResult(summary, metrics, state, env_steps, healthy, from_disk=True)


def _execute(job: _Job, plan: _Plan, out: Path | None, write_record: bool) -> RunResult:
    """Compile, initialise (or restore), run the chunks, summarise; write results if the run completes."""
    program, layout, agent = plan.program, plan.layout, plan.agent
    loop_key_data = program.loop_keys(plan.key_data)
    program.compile_chunk(plan.state_aval, plan.healthy_aval, plan.hparams, loop_key_data)
    chunks: list[dict[str, np.ndarray]] = []
    if plan.resume_step is not None:
        where = plan.checkpoints.describe(plan.resume_step)
        args = (plan.resume_step, program.runs, plan.state_aval, plan.healthy_aval)
        state, healthy, restored_keys = plan.checkpoints.restore(*args)
        if not np.array_equal(_to_host(restored_keys), _to_host(loop_key_data)):
            raise ValueError(
                f"{where}: its loop keys are not those of seed={job.seed}. Nothing was overwritten."
            )
        chunks.append(plan.checkpoints.read_metrics(plan.resume_step, layout.num_runs))
        next_block = plan.resume_step
    else:
        state, healthy = program.init(plan.key_data, plan.hparams, *plan.init_args)
        next_block = 0
    jax.block_until_ready(state)
    compile_seconds = time.perf_counter() - plan.started
    start_block = next_block

    is_writer = jax.process_index() == 0
    steps_per_block = agent.eval_every * agent.env_steps_per_update
    timesteps = {
        "total_timesteps_requested": getattr(job.config, "total_timesteps", None),
        "total_timesteps_actual": agent.num_blocks * steps_per_block,
    }
    if out is not None and write_record and is_writer:
        if job.overwrite:
            clear_run_files(out)
        io.write_json(out / "config.json", {**job.record, **timesteps})
    board = None
    if job.tensorboard and out is not None and is_writer:
        from purerl.tensorboard import TensorBoardWriter

        board = TensorBoardWriter(out / TENSORBOARD_DIR, job.labels, job.num_seeds, steps_per_block)
    bar = None
    if job.progress and is_writer:
        total = agent.num_blocks * steps_per_block * layout.num_real
        bar = _progress_bar(total, start_block * steps_per_block * layout.num_real, job)
    chunks_run = 0
    t_run = time.perf_counter()
    try:
        while next_block < agent.num_blocks:
            start = jnp.asarray(next_block, jnp.int32)
            with jax.debug_nans(True) if job.debug_nans else contextlib.nullcontext():
                state, healthy, metrics = program.chunk(state, healthy, plan.hparams, loop_key_data, start)
            chunks.append(_to_host(metrics))  # syncs: the host only ever sees finished chunks
            if board is not None:  # [H, S, K, ...] for every run, a plain one being H = 1
                board.write_blocks(
                    {k: to_result_layout(v, layout, True) for k, v in chunks[-1].items()}, next_block
                )
            chunks_run += 1
            next_block += plan.chunk_blocks
            finished = next_block == agent.num_blocks
            stopping = (
                not finished and job.stop_after_chunks is not None and chunks_run >= job.stop_after_chunks
            )
            periodic = job.checkpoint_every > 0 and (
                finished or (next_block // plan.chunk_blocks) % job.checkpoint_every == 0
            )
            if plan.checkpoints is not None and (periodic or stopping):
                meta = {**plan.meta, "next_block": next_block}
                plan.checkpoints.save(next_block, state, healthy, loop_key_data, meta, _concat(chunks))
            if bar is not None:
                _update_bar(bar, plan.chunk_blocks * steps_per_block * layout.num_real, chunks[-1], layout)
            if stopping:
                break
        jax.block_until_ready(state)
    finally:
        if bar is not None:
            bar.close()
        if board is not None:
            board.close()
    run_seconds = time.perf_counter() - t_run

    metrics = {k: to_result_layout(v, layout, job.swept) for k, v in _concat(chunks).items()}
    complete = next_block == agent.num_blocks
    env_steps_run = (next_block - start_block) * steps_per_block * layout.num_real
    summary = summarize(
        metrics,
        job.sweep_settings,
        job.swept,
        labels=job.labels,
        target=job.target,
        algo=job.spec.name,
        env=getattr(job.config, "env_name", None),
        num_seeds=job.num_seeds,
        seed=job.seed,
        total_timesteps=agent.num_blocks * steps_per_block,  # = total_timesteps_actual (older readers)
        **timesteps,
        num_updates=agent.num_blocks * agent.eval_every,
        eval_every=agent.eval_every,
        complete=complete,
        blocks_done=next_block,
        num_blocks=agent.num_blocks,
        resumed_from_block=start_block or None,
        compile_seconds=compile_seconds,
        compile_cached=plan.cached,
        run_seconds=run_seconds,
        # None when nothing ran (a resume whose last checkpoint was the final block).
        env_steps_per_second=env_steps_run / run_seconds if env_steps_run and run_seconds > 0 else None,
        devices=[str(d) for d in job.devices],
        num_processes=jax.process_count(),
        num_runs_padded=layout.num_runs,
    )
    env_steps = (np.arange(next_block) + 1) * steps_per_block
    healthy_out = metrics["healthy"][..., -1].astype(bool)
    result = RunResult(summary, metrics, _state_out(state, layout, job.swept), env_steps, healthy_out)
    if out is not None and complete and is_writer:
        save_results(out, result, job.swept, job.sweep_settings)
    return result


def _state_out(state: Any, layout: RunLayout, swept: bool) -> Any:
    if layout.num_runs == layout.num_real and not swept:
        return state
    return jax.tree.map(lambda x: to_result_layout(x, layout, swept), state)


def _concat(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-chunk `[R, K, ...]` host metrics -> `[R, sum K, ...]`."""
    return {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}


def _progress_bar(total: int, initial: int, job: _Job):
    from tqdm.auto import tqdm

    env_name = getattr(job.config, "env_name", "")
    return tqdm(
        total=total,
        initial=initial,
        desc=f"{job.spec.name} {env_name}",
        unit=" steps",
        unit_scale=True,
        dynamic_ncols=True,
    )


def _update_bar(bar: Any, steps: int, chunk_metrics: dict[str, np.ndarray], layout: RunLayout) -> None:
    bar.update(steps)
    latest = np.asarray(chunk_metrics["eval_return"])[: layout.num_real, -1]
    finite = latest[np.isfinite(latest)]
    bar.set_postfix_str(
        f"eval IQM {stats.iqm(finite):.1f}, diverged {layout.num_real - finite.size}"
        if finite.size
        else "all diverged"
    )
