"""Many seeds x many hyperparameter settings in one compiled program: chunked, checkpointed, sharded.

`run(...)` compiles an *init* program and a *chunk* program (a fixed number of evaluation blocks) once and
calls the chunk repeatedly. Between chunks the host updates a progress bar and may write a checkpoint.

Runs. Every (hyperparameter setting, seed) pair is a *run*. Runs lie on one flat axis, run
`r = h * num_seeds + s`, each with its own row of hyperparameters, so a sweep and a plain run are the same
program and the run axis is the one axis to shard. Result arrays are reshaped back to leading
`[hparam, seed]` axes for sweeps and `[seed]` otherwise.

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

Checkpoints. With an `out_dir`, the full training state of every run (params, optimiser and env state,
buffers), each run's health flag and loop key (raw key data) are saved with orbax after every
`checkpoint_every` chunks (atomic step directories; the last `keep_checkpoints` are kept), together with
the metrics of the completed blocks (`.npz`). `resume=True` continues from the latest checkpoint and gives
bit-identical final parameters and metrics to an uninterrupted run.

Results directory::

    config.json                    the run record: algo, config, hparams, seeds, sweep (checked on resume)
    checkpoints/<blocks>/          orbax checkpoint after <blocks> completed blocks
    checkpoint_metrics/<blocks>.npz  metrics of those blocks, saved with each checkpoint
    metrics.npz, summary.json, learning_curve.png   written when the run completes
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
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

from purerl import io, stats
from purerl.agents import get_algorithm
from purerl.loop import Agent, run_blocks, split_run_key

FORMAT_VERSION = 1
RUN_AXIS = "runs"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_METRICS_DIR = "checkpoint_metrics"
RESULT_FILES = ("config.json", "summary.json", "metrics.npz", "learning_curve.png")
# XLA:CPU compiles a batch of one run differently (last-bit differences); two per device avoids it.
MIN_RUNS_PER_DEVICE = 2
_MAX_SEED = 2**32


class RunResult(NamedTuple):
    """What `run` returns.

    Attributes:
        summary: JSON-ready summary (the content of `summary.json`).
        metrics: host NumPy arrays, `[(H,) S, blocks, ...]`; float metrics of a diverged seed are NaN
            from the block in which it diverged; `metrics["healthy"]` is the per-block health flag.
        state: final training state, leading `[(H,) S]` axes, on device (a diverged seed's is its last
            finite state).
        env_steps: `[blocks]` env steps per seed at the end of each completed block.
        healthy: `[(H,) S]` bool, False for diverged seeds.
    """

    summary: dict[str, Any]
    metrics: dict[str, np.ndarray]
    state: Any
    env_steps: np.ndarray
    healthy: np.ndarray


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


def _to_result_layout(x: Any, layout: RunLayout, swept: bool) -> Any:
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


def _num_settings(hparams: Any, swept: bool, sweep_settings: list[dict] | None) -> int:
    shapes = {name: np.shape(value) for name, value in hparams._asdict().items()}
    if not swept:
        bad = {k: s for k, s in shapes.items() if s != ()}
        if bad:
            raise ValueError(f"hparams must be scalars without swept=True; these have shapes {bad}")
        return 1
    lengths = {s[0] if len(s) == 1 else None for s in shapes.values()}
    if len(lengths) != 1 or None in lengths:
        raise ValueError(f"swept hparams must all have shape [H] with the same H, got shapes {shapes}")
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


def run_record(
    algo: str,
    config: Any,
    hparams: Any,
    num_seeds: int,
    seed: int,
    sweep_settings: list[dict] | None,
    init_args: tuple[Any, ...] = (),
) -> dict[str, Any]:
    """The identity of a run, as stored in `config.json`: what a resumed run must match exactly."""
    digest = None
    if init_args:
        h = hashlib.sha256()
        for leaf in jax.tree.leaves(init_args):
            leaf = np.ascontiguousarray(np.asarray(leaf))
            h.update(f"{leaf.dtype}{leaf.shape}".encode())
            h.update(leaf.tobytes())
        digest = h.hexdigest()
    record = {
        "format": FORMAT_VERSION,
        "algo": algo,
        "config": dataclasses.asdict(config),
        "hparams": {k: np.asarray(v).tolist() for k, v in hparams._asdict().items()},
        "num_seeds": num_seeds,
        "seed": seed,
        "sweep": sweep_settings,
        "init_args_sha256": digest,
    }
    # Through JSON and back, so tuples compare equal to the lists that config.json holds.
    return json.loads(json.dumps(io.to_builtin(record), sort_keys=True))


def _record_differences(saved: Any, current: Any, prefix: str = "") -> list[str]:
    if isinstance(saved, dict) and isinstance(current, dict):
        diffs = []
        for key in sorted(set(saved) | set(current)):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in saved:
                diffs.append(f"{name}: not in the saved run, now {current[key]!r}")
            elif key not in current:
                diffs.append(f"{name}: saved {saved[key]!r}, not in this run")
            else:
                diffs.extend(_record_differences(saved[key], current[key], name))
        return diffs
    return [] if saved == current else [f"{prefix}: saved {saved!r}, now {current!r}"]


def _check_out_dir(out: Path, record: dict, resume: bool, overwrite: bool) -> dict | None:
    """Decide what an existing results directory allows. Returns the saved record when resuming it."""
    config_path = out / "config.json"
    if not config_path.exists():
        if (out / CHECKPOINT_DIR).exists() and not overwrite:
            raise ValueError(
                f"{out} holds checkpoints but no config.json, so they cannot be checked against this run; "
                "pass overwrite=True (--overwrite) to discard them or choose another directory"
            )
        return None
    try:
        saved = io.read_json(config_path)
    except (OSError, ValueError) as err:
        if overwrite:
            return None
        raise ValueError(
            f"{config_path} is unreadable ({err}); pass overwrite=True (--overwrite) to replace the run"
        ) from None
    diffs = _record_differences(saved, record)
    if resume:
        if diffs:
            raise ValueError(
                f"cannot resume {out}: it holds a different run ({len(diffs)} difference(s)):\n  "
                + "\n  ".join(diffs[:20])
                + "\nResume with exactly the saved settings, or use another results directory."
            )
        return saved
    if overwrite:
        return None
    if diffs:
        raise ValueError(
            f"{out} already holds a different run ({len(diffs)} difference(s), e.g. {diffs[0]}); "
            "pass overwrite=True (--overwrite) to replace it, or choose another results directory"
        )
    raise ValueError(
        f"{out} already holds this run; pass resume=True (--resume) to continue it from its last "
        "checkpoint, or overwrite=True (--overwrite) to start it again"
    )


def _clear_run_files(out: Path) -> None:
    import shutil

    for name in RESULT_FILES:
        (out / name).unlink(missing_ok=True)
    for name in (CHECKPOINT_DIR, CHECKPOINT_METRICS_DIR):
        shutil.rmtree(out / name, ignore_errors=True)


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


def _canonical(x: Any) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(jax.dtypes.canonicalize_dtype(x.dtype))


def _is_key(x: Any) -> bool:
    return jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


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
            self._chunk_compiled = lowered.compile(compiler_options=self.compiler_options)

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
# Checkpoints


def _state_layout(abstract_state: Any) -> list[list]:
    leaves = jax.tree_util.tree_leaves_with_path(abstract_state)
    return [[jax.tree_util.keystr(path), list(x.shape), str(x.dtype)] for path, x in leaves]


def _record_digest(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


class _Checkpoints:
    """Orbax checkpoints of the run state plus an `.npz` of the completed blocks' metrics per step.

    The step number is the number of completed blocks. The metrics file is written (atomically) before
    the orbax step, which orbax finalises atomically, so a step directory that exists always has its
    metrics; a metrics file without its step (a kill in between) is ignored and later replaced.

    Saves are synchronous: the next chunk donates the state's buffers, and a checkpoint that exists is
    complete. Each operation opens and closes its own `CheckpointManager`, so an error (a corrupt
    checkpoint) never leaves one open.
    """

    def __init__(self, out: Path, keep: int):
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.directory = (out / CHECKPOINT_DIR).absolute()
        self.metrics_dir = out / CHECKPOINT_METRICS_DIR
        self.options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=False
        )

    def _manager(self):
        return self._ocp.CheckpointManager(self.directory, options=self.options)

    def steps(self) -> list[int]:
        with self._manager() as manager:
            return sorted(manager.all_steps())

    def save(self, step: int, arrays: dict, meta: dict, metrics: dict[str, np.ndarray]) -> None:
        ocp = self._ocp
        if jax.process_index() == 0:
            io.save_npz(self.metrics_dir / f"{step}.npz", **metrics)
        args = ocp.args.Composite(arrays=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta))
        with self._manager() as manager:
            manager.save(step, args=args, force=True)
            manager.wait_until_finished()
        if jax.process_index() == 0:
            kept = set(self.steps())
            for path in self.metrics_dir.glob("*.npz"):
                if path.stem.isdigit() and int(path.stem) not in kept:
                    path.unlink(missing_ok=True)

    def _describe(self, step: int) -> str:
        return f"checkpoint {self.directory / str(step)}"

    def _unreadable(self, step: int, err: BaseException) -> ValueError:
        older = [s for s in self.steps() if s < step]
        hint = (
            f" Older checkpoints exist ({', '.join(map(str, older))}): delete this step's directory to "
            "resume from the previous one."
            if older
            else ""
        )
        detail = str(err).split(" [tensorstore_spec")[0]  # the driver's spec dump is noise here
        detail = detail if len(detail) <= 400 else detail[:400] + " ..."
        return ValueError(
            f"{self._describe(step)} is corrupt or unreadable ({type(err).__name__}: {detail}). Nothing was "
            f"overwritten.{hint}"
        )

    def read_meta(self, step: int) -> dict:
        ocp = self._ocp
        try:
            with self._manager() as manager:
                meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except Exception as err:
            raise self._unreadable(step, err) from err
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"{self._describe(step)} is not a purerl format-{FORMAT_VERSION} checkpoint (metadata "
                f"{meta!r:.200}). Nothing was overwritten."
            )
        return meta

    def restore_arrays(self, step: int, abstract: dict) -> dict:
        ocp = self._ocp
        try:
            args = ocp.args.Composite(arrays=ocp.args.StandardRestore(abstract))
            with self._manager() as manager:
                return manager.restore(step, args=args)["arrays"]
        except Exception as err:
            raise self._unreadable(step, err) from err

    def read_metrics(self, step: int) -> dict[str, np.ndarray]:
        path = self.metrics_dir / f"{step}.npz"
        try:
            # allow_pickle=False: a checkpoint is data, never code.
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except Exception as err:
            raise ValueError(
                f"the metrics of {self._describe(step)} ({path}) are missing or unreadable "
                f"({type(err).__name__}: {err}). Nothing was overwritten."
            ) from err


def _check_meta(meta: dict, where: str, expected: dict) -> None:
    for name, value in expected.items():
        if meta.get(name) != value:
            shown = "differs" if name in ("state_layout", "record_sha256") else f"is {meta.get(name)!r}"
            raise ValueError(
                f"{where} does not match this run: its {name} {shown} (this run: "
                f"{'see config.json' if name == 'record_sha256' else value!r}). Nothing was overwritten."
            )


# ----------------------------------------------------------------------------------------------------
# The runner


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
    init_args: tuple[Any, ...] = (),
    checkpoint_every: int = 1,
    keep_checkpoints: int = 2,
    resume: bool = False,
    overwrite: bool = False,
    stop_after_chunks: int | None = None,
    devices: Sequence[Any] | None = None,
    debug_nans: bool = False,
    compiler_options: Mapping[str, Any] | None = None,
) -> RunResult:
    """Train `num_seeds` seeds (x every stacked hparam setting if `swept`) and summarise.

    Args:
        algo: registered algorithm name.
        config: the algorithm's static config.
        hparams: the algorithm's HParams; with `swept=True` every leaf has a leading `[H]` axis.
        num_seeds: seeds per setting; seed `s` uses `split(key(seed), num_seeds)[s]` in every setting.
        seed: base seed, in `[0, 2**32)`.
        swept: `hparams` holds `H` stacked settings.
        sweep_settings: one dict per setting (labels for tables and plots).
        num_chunks: progress/checkpoint granularity (rounded so chunks have equal size; a resumed run
            keeps the chunk size it was started with).
        out_dir: if given, write `config.json` at the start, checkpoints during the run and
            `metrics.npz`, `summary.json`, `learning_curve.png` at the end (see the module docstring).
            A directory that already holds a run is refused unless `resume` or `overwrite`.
        progress: show a tqdm progress bar.
        init_args: extra per-seed arguments of `agent.init` (e.g. PPO's bootstrap `init_params`, BC's
            demonstrations), every leaf with a leading `[num_seeds]` axis; shared by all hparam settings.
        checkpoint_every: checkpoint after every this many chunks (and after the last one, and when
            stopping early); 0 never checkpoints. Needs `out_dir`.
        keep_checkpoints: how many of the latest checkpoints to keep.
        resume: continue the run in `out_dir` from its latest checkpoint (its `config.json` must match
            this call exactly); a directory without a run starts one, so a requeued job can always pass it.
        overwrite: discard a run already in `out_dir`.
        stop_after_chunks: run at most this many chunks in this call, checkpoint, and return a partial
            result (`summary["complete"]` False); resume later. For time-limited job slots and tests.
        devices: devices to shard the runs over (default: `jax.devices()`, every host's).
        debug_nans: run under `jax.debug_nans` (uncompiled dispatch, slow): the first operation that
            produces a NaN raises `FloatingPointError`, instead of the seed being frozen.
        compiler_options: XLA options for compiling the programs, e.g.
            `{"xla_backend_optimization_level": 0}` compiles a CPU program about 3x faster and runs it
            slower (what the test suite uses for its tiny runs).

    Raises:
        ValueError: on any invalid argument, config or hyperparameter (before anything is compiled), a
            results directory that holds another run, or a corrupt or mismatched checkpoint.
    """
    spec = get_algorithm(algo)
    if not isinstance(config, spec.config_cls):
        raise ValueError(f"config must be a {spec.config_cls.__name__}, got {type(config).__name__}")
    if not isinstance(hparams, spec.hparams_cls):
        raise ValueError(f"hparams must be a {spec.hparams_cls.__name__}, got {type(hparams).__name__}")
    _check_int("num_seeds", num_seeds, 1)
    _check_int("seed", seed, 0, _MAX_SEED)
    _check_int("num_chunks", num_chunks, 1)
    _check_int("checkpoint_every", checkpoint_every, 0, note=" (0 = never)")
    _check_int("keep_checkpoints", keep_checkpoints, 1)
    if stop_after_chunks is not None:
        _check_int("stop_after_chunks", stop_after_chunks, 1, note=" or None")
    if resume and overwrite:
        raise ValueError("resume and overwrite exclude each other: continue the saved run or replace it")
    if resume and out_dir is None:
        raise ValueError("resume=True needs the results directory of the run (out_dir / --out)")
    spec.validate_hparams(hparams)
    num_settings = _num_settings(hparams, swept, sweep_settings)
    _check_init_args(init_args, num_seeds)
    init_args = jax.tree.map(_canonical, tuple(init_args))

    out = Path(out_dir) if out_dir is not None else None
    record = run_record(algo, config, hparams, num_seeds, seed, sweep_settings, init_args)
    saved_record = _check_out_dir(out, record, resume, overwrite) if out is not None else None
    agent: Agent = spec.make_agent(config)
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must not be empty")

    # A resumed run reads its checkpoint's metadata first: it fixes the chunk size and run-axis padding.
    checkpoints = None
    resume_step = resume_meta = None
    if saved_record is not None and (out / CHECKPOINT_DIR).exists():
        checkpoints = _Checkpoints(out, keep_checkpoints)
        steps = checkpoints.steps()
        if steps:
            resume_step = steps[-1]
            resume_meta = checkpoints.read_meta(resume_step)
    if resume_meta is not None:
        layout = plan_runs(num_settings, num_seeds, len(devices), resume_meta.get("num_runs"))
        chunk_blocks = resume_meta.get("chunk_blocks")
        if not isinstance(chunk_blocks, int) or chunk_blocks < 1 or agent.num_blocks % chunk_blocks:
            raise ValueError(f"checkpoint {resume_step} has an invalid chunk_blocks={chunk_blocks!r}")
    else:
        layout = plan_runs(num_settings, num_seeds, len(devices))
        chunk_blocks = _choose_chunk_blocks(agent.num_blocks, num_chunks)

    # Per-run inputs, built on the host (identical on every process) and sharded on the run axis.
    seed_key_data = np.asarray(jax.random.key_data(jax.random.split(jax.random.key(seed), num_seeds)))
    run_key_data = seed_key_data[layout.seed_index]
    if swept:
        run_hparams = jax.tree.map(lambda v: _canonical(v)[layout.setting_index], hparams)
    else:
        run_hparams = jax.tree.map(lambda v: np.full(layout.num_runs, _canonical(v)), hparams)
    run_init_args = jax.tree.map(lambda x: x[layout.seed_index], init_args)

    t0 = time.perf_counter()
    signature = (_signature((run_hparams, run_init_args)), len(init_args))
    options = dict(compiler_options or {})
    program, cached = _get_program(algo, config, agent, devices, chunk_blocks, signature, debug_nans, options)
    key_data_g = _to_global(run_key_data, program.runs)
    hparams_g = _to_global(run_hparams, program.runs)
    init_args_g = _to_global(run_init_args, program.runs)
    loop_key_data = program.loop_keys(key_data_g)
    state_aval, healthy_aval = jax.eval_shape(program.init_jit, key_data_g, hparams_g, *init_args_g)
    expected_meta = {
        "num_blocks": agent.num_blocks,
        "num_runs": layout.num_runs,
        "record_sha256": _record_digest(record),
        "state_layout": _state_layout(state_aval),
    }
    if resume_meta is not None:  # checked before compiling: a mismatch fails in seconds
        where = f"checkpoint {out / CHECKPOINT_DIR / str(resume_step)}"
        _check_meta(resume_meta, where, expected_meta)
        next_block = resume_meta.get("next_block")
        if next_block != resume_step or next_block % chunk_blocks or next_block > agent.num_blocks:
            raise ValueError(f"{where} has an invalid next_block={next_block!r}. Nothing was overwritten.")
    program.compile_chunk(state_aval, healthy_aval, hparams_g, loop_key_data)

    done_metrics: dict[str, np.ndarray] | None = None
    if resume_meta is not None:
        state, healthy, restored_keys = _restore(checkpoints, resume_step, program, state_aval, healthy_aval)
        if not np.array_equal(_to_host(restored_keys), _to_host(loop_key_data)):
            raise ValueError(f"{where}: its loop keys are not those of seed={seed}. Nothing was overwritten.")
        done_metrics = checkpoints.read_metrics(resume_step)
        for name, value in done_metrics.items():
            if value.shape[:2] != (layout.num_runs, next_block):
                raise ValueError(
                    f"{where}: metric {name!r} has shape {value.shape}, expected "
                    f"({layout.num_runs}, {next_block}, ...). Nothing was overwritten."
                )
    else:
        next_block = 0
        state, healthy = program.init(key_data_g, hparams_g, *init_args_g)
    jax.block_until_ready(state)
    compile_seconds = time.perf_counter() - t0
    start_block = next_block

    is_writer = jax.process_index() == 0
    if out is not None and saved_record is None and is_writer:
        if overwrite:
            _clear_run_files(out)
        io.write_json(out / "config.json", record)
    if out is not None and checkpoint_every > 0 and checkpoints is None:
        checkpoints = _Checkpoints(out, keep_checkpoints)

    steps_per_block = agent.eval_every * agent.env_steps_per_update
    steps_per_chunk = chunk_blocks * steps_per_block * layout.num_real
    total_env_steps = agent.num_blocks * steps_per_block * layout.num_real
    bar = None
    if progress and is_writer:
        bar = _progress_bar(total_env_steps, start_block * steps_per_block * layout.num_real, algo, config)
    chunks: list[dict[str, np.ndarray]] = [] if done_metrics is None else [done_metrics]
    chunks_run = 0
    t_run = time.perf_counter()
    try:
        while next_block < agent.num_blocks:
            start = jnp.asarray(next_block, jnp.int32)
            with jax.debug_nans(True) if debug_nans else contextlib.nullcontext():
                state, healthy, metrics = program.chunk(state, healthy, hparams_g, loop_key_data, start)
            chunks.append(_to_host(metrics))  # syncs: the host only ever sees finished chunks
            chunks_run += 1
            next_block += chunk_blocks
            stopping = stop_after_chunks is not None and chunks_run >= stop_after_chunks
            finished = next_block == agent.num_blocks
            due = finished or stopping or (next_block // chunk_blocks) % max(checkpoint_every, 1) == 0
            if checkpoints is not None and checkpoint_every > 0 and due:
                meta = {**expected_meta, "format": FORMAT_VERSION, "next_block": next_block}
                meta["chunk_blocks"] = chunk_blocks
                arrays = _checkpoint_arrays(state, healthy, loop_key_data)
                checkpoints.save(next_block, arrays, meta, _concat(chunks))
            if bar is not None:
                bar.update(steps_per_chunk)
                latest = np.asarray(chunks[-1]["eval_return"])[: layout.num_real, -1]
                finite = latest[np.isfinite(latest)]
                bar.set_postfix_str(
                    f"eval IQM {stats.iqm(finite):.1f}, diverged {layout.num_real - finite.size}"
                    if finite.size
                    else "all diverged"
                )
            if stopping and not finished:
                break
        jax.block_until_ready(state)
    finally:
        if bar is not None:
            bar.close()
    run_seconds = time.perf_counter() - t_run

    metrics = {k: _to_result_layout(v, layout, swept) for k, v in _concat(chunks).items()}
    complete = next_block == agent.num_blocks
    env_steps = (np.arange(next_block) + 1) * steps_per_block
    if layout.num_runs == layout.num_real and not swept:
        state_out = state
    else:
        state_out = jax.tree.map(lambda x: _to_result_layout(x, layout, swept), state)
    summary = _summarize(
        algo=algo,
        config=config,
        agent=agent,
        metrics=metrics,
        num_seeds=num_seeds,
        swept=swept,
        sweep_settings=sweep_settings,
        seed=seed,
        layout=layout,
        devices=devices,
        compile_seconds=compile_seconds,
        compile_cached=cached,
        run_seconds=run_seconds,
        env_steps_run=(next_block - start_block) * steps_per_block * layout.num_real,
        start_block=start_block,
        blocks_done=next_block,
        complete=complete,
    )
    healthy_out = metrics["healthy"][..., -1].astype(bool)
    result = RunResult(summary, metrics, state_out, env_steps, healthy_out)
    if out is not None and complete and is_writer:
        save_results(out, result, swept, sweep_settings)
    return result


def _concat(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-chunk `[R, K, ...]` host metrics -> `[R, sum K, ...]`."""
    return {k: np.concatenate([c[k] for c in chunks], axis=1) for k in chunks[0]}


def _checkpoint_arrays(state: Any, healthy: Any, loop_key_data: Any) -> dict[str, Any]:
    # Leaves are named by position: orbax treats parts of richer names as a path. Typed PRNG keys (if an
    # agent keeps any in its state) are saved as their raw key data.
    leaves = jax.tree.leaves(state)
    saved = {f"leaf_{i:05d}": jax.random.key_data(x) if _is_key(x) else x for i, x in enumerate(leaves)}
    return {"state": saved, "healthy": healthy, "loop_key_data": loop_key_data}


def _restore(checkpoints: _Checkpoints, step: int, program: _Program, state_aval: Any, healthy_aval: Any):
    leaves, treedef = jax.tree.flatten(state_aval)
    targets = {
        f"leaf_{i:05d}": jax.eval_shape(jax.random.key_data, x) if _is_key(x) else x
        for i, x in enumerate(leaves)
    }
    abstract = program.abstract(
        {
            "state": targets,
            "healthy": healthy_aval,
            "loop_key_data": jax.ShapeDtypeStruct((healthy_aval.shape[0], *_key_data_shape()), jnp.uint32),
        }
    )
    arrays = checkpoints.restore_arrays(step, abstract)
    restored = [
        jax.random.wrap_key_data(arrays["state"][f"leaf_{i:05d}"], impl=jax.random.key_impl(x))
        if _is_key(x)
        else arrays["state"][f"leaf_{i:05d}"]
        for i, x in enumerate(leaves)
    ]
    return jax.tree.unflatten(treedef, restored), arrays["healthy"], arrays["loop_key_data"]


def _key_data_shape() -> tuple[int, ...]:
    """Shape of one key's raw data under the default PRNG implementation (abstract: no key is made)."""
    seed = jax.ShapeDtypeStruct((), jnp.uint32)
    return jax.eval_shape(lambda s: jax.random.key_data(jax.random.key(s)), seed).shape


def _progress_bar(total: int, initial: int, algo: str, config: Any):
    from tqdm.auto import tqdm

    env_name = getattr(config, "env_name", "")
    return tqdm(
        total=total,
        initial=initial,
        desc=f"{algo} {env_name}",
        unit=" steps",
        unit_scale=True,
        dynamic_ncols=True,
    )


# ----------------------------------------------------------------------------------------------------
# Summary and results


def _seed_summary(final: np.ndarray, healthy_blocks: np.ndarray) -> dict[str, Any]:
    """Statistics of one setting's `[S]` final returns over its healthy seeds, and who diverged."""
    healthy = healthy_blocks[:, -1].astype(bool) & np.isfinite(final)
    diverged = np.flatnonzero(~healthy)
    first_bad = np.argmax(~healthy_blocks.astype(bool), axis=1)
    return {
        "final_return": stats.summarize(final[healthy]) if healthy.any() else None,
        "num_healthy": int(healthy.sum()),
        "diverged_seeds": diverged.tolist(),
        "diverged_at_block": {str(s): int(first_bad[s]) for s in diverged},
    }


def _summarize(
    *,
    algo: str,
    config: Any,
    agent: Agent,
    metrics: dict[str, np.ndarray],
    num_seeds: int,
    swept: bool,
    sweep_settings: list[dict] | None,
    seed: int,
    layout: RunLayout,
    devices: list,
    compile_seconds: float,
    compile_cached: bool,
    run_seconds: float,
    env_steps_run: int,
    start_block: int,
    blocks_done: int,
    complete: bool,
) -> dict[str, Any]:
    final = np.asarray(metrics["eval_return"])[..., -1]  # [(H,) S]
    healthy_blocks = np.asarray(metrics["healthy"])  # [(H,) S, B]
    summary: dict[str, Any] = {
        "algo": algo,
        "env": getattr(config, "env_name", None),
        "num_seeds": num_seeds,
        "seed": seed,
        "total_timesteps": agent.num_blocks * agent.eval_every * agent.env_steps_per_update,
        "num_updates": agent.num_updates,
        "eval_every": agent.eval_every,
        "complete": complete,
        "blocks_done": blocks_done,
        "num_blocks": agent.num_blocks,
        "resumed_from_block": start_block if start_block else None,
        "compile_seconds": compile_seconds,
        "compile_cached": compile_cached,
        "run_seconds": run_seconds,
        "env_steps_per_second": env_steps_run / run_seconds if run_seconds > 0 else None,
        "devices": [str(d) for d in devices],
        "num_processes": jax.process_count(),
        "num_runs_padded": layout.num_runs,
    }
    if swept:
        names = sweep_settings or [{} for _ in range(layout.num_settings)]
        summary["sweep"] = [
            {"hparams": setting, **_seed_summary(final[i], healthy_blocks[i])}
            for i, setting in enumerate(names)
        ]
        scored = [i for i, s in enumerate(summary["sweep"]) if s["final_return"] is not None]
        best = max(scored, key=lambda i: summary["sweep"][i]["final_return"]["iqm"]) if scored else None
        summary["best_setting"] = best
        summary["final_return"] = summary["sweep"][best]["final_return"] if best is not None else None
        summary["diverged_seeds"] = [
            [i, s] for i, e in enumerate(summary["sweep"]) for s in e["diverged_seeds"]
        ]
        summary["num_diverged"] = len(summary["diverged_seeds"])
    else:
        summary.update(_seed_summary(final, healthy_blocks))
        summary["num_diverged"] = len(summary["diverged_seeds"])
    return summary


def save_results(out_dir: Path, result: RunResult, swept: bool, sweep_settings: list[dict] | None) -> None:
    """Write `metrics.npz`, `summary.json` and `learning_curve.png` (every file atomically)."""
    from purerl import plots

    summary = result.summary
    io.save_npz(out_dir / "metrics.npz", env_steps=result.env_steps, **result.metrics)
    io.write_json(out_dir / "summary.json", summary)
    eval_return = result.metrics["eval_return"]
    healthy = result.healthy
    # Diverged seeds' curves are NaN from their divergence on: the plot drops them and says how many.
    if swept:
        labels = [", ".join(f"{k}={v:g}" for k, v in s.items()) for s in sweep_settings or []]
        labels = labels or [f"setting {i}" for i in range(len(eval_return))]
        curves = {
            label: (result.env_steps, eval_return[i]) for i, label in enumerate(labels) if healthy[i].any()
        }
    else:
        curves = {summary["algo"]: (result.env_steps, eval_return)} if healthy.any() else {}
    if curves:
        title = f"{summary['algo']} on {summary['env']} ({summary['num_seeds']} seeds)"
        plots.plot_learning_curves(
            curves, out_dir / "learning_curve.png", ylabel="evaluation return", title=title
        )
