"""The results directory of a run: its record, its lock, its summary and its result files.

Layout (`out_dir` / `--out`)::

    config.json                      the run record: algo, config, hparams, seeds, sweep (checked on resume)
    .lock                            while a run writes here: `{"host", "pid"}` of its process
    checkpoints/<blocks>/            orbax checkpoint after <blocks> completed blocks (purerl.checkpoints)
    checkpoint_metrics/<blocks>.npz  metrics of those blocks, saved with each checkpoint
    metrics.npz, summary.json, learning_curve.png   written when the run completes
    tensorboard/<setting>/seed_<s>/  TensorBoard event files, with `tensorboard=True` (purerl.tensorboard)

`config.json` is the run's identity (what a resume must match) plus facts derived from it that are not
part of that identity (`DERIVED_RECORD_FIELDS`: the env steps requested and the env steps that run, which
is the request rounded down to whole evaluation blocks). `summary.json` names the same two numbers.
`metrics.npz` holds every metric `[(H,) S, blocks, ...]`, `env_steps [blocks]` and, for a sweep,
`setting.<field> [H]` (float64): the value of each swept hyperparameter in each row, so row `h` of a
sweep's metrics is the setting `{field: setting.<field>[h]}` (its label is `summary.json`'s
`sweep[h].label`). Every entry is numeric, so the file compares with `np.array_equal(..., equal_nan=True)`.

A complete run is read-only data: resuming it returns what it saved (`read_complete`) and writes nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import shutil
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from purerl import io, stats
from purerl.labels import entry_label
from purerl.targets import Target

FORMAT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_METRICS_DIR = "checkpoint_metrics"
LOCK_FILE = ".lock"
RESULT_FILES = ("config.json", "summary.json", "metrics.npz", "learning_curve.png")
TENSORBOARD_DIR = "tensorboard"
# Written into config.json beside the record, never compared on resume (runs saved before them lack them).
DERIVED_RECORD_FIELDS = ("total_timesteps_requested", "total_timesteps_actual")
SETTING_PREFIX = "setting."


def is_metric_key(name: str) -> bool:
    """Whether an entry of `metrics.npz` is a metric (not `env_steps` or a swept value `setting.<field>`)."""
    return name != "env_steps" and not name.startswith(SETTING_PREFIX)


class RunResult(NamedTuple):
    """What `runner.run` returns.

    Attributes:
        summary: JSON-ready summary (the content of `summary.json`).
        metrics: host NumPy arrays, `[(H,) S, blocks, ...]`; float metrics of a diverged seed are NaN
            from the block in which it diverged; `metrics["healthy"]` is the per-block health flag.
        state: final training state, leading `[(H,) S]` axes, on device (a diverged seed's is its last
            finite state); None for a complete run read back from a directory without a final checkpoint.
        env_steps: `[blocks]` env steps per seed at the end of each completed block.
        healthy: `[(H,) S]` bool, False for diverged seeds.
        from_disk: True when `run(..., resume=True)` found the run complete and returned what it had
            saved: nothing ran and nothing was written.
    """

    summary: dict[str, Any]
    metrics: dict[str, np.ndarray]
    state: Any
    env_steps: np.ndarray
    healthy: np.ndarray
    from_disk: bool = False


# ----------------------------------------------------------------------------------------------------
# The run record (config.json)


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


def record_digest(record: dict) -> str:
    """SHA-256 of a run record (stored in each checkpoint, so a checkpoint names the run it belongs to)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def record_differences(saved: Any, current: Any, prefix: str = "") -> list[str]:
    """`"field.path: saved X, now Y"` for every difference between two run records."""
    if isinstance(saved, dict) and isinstance(current, dict):
        diffs = []
        for key in sorted(set(saved) | set(current)):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in saved:
                diffs.append(f"{name}: not in the saved run, now {current[key]!r}")
            elif key not in current:
                diffs.append(f"{name}: saved {saved[key]!r}, not in this run")
            else:
                diffs.extend(record_differences(saved[key], current[key], name))
        return diffs
    return [] if saved == current else [f"{prefix}: saved {saved!r}, now {current!r}"]


# ----------------------------------------------------------------------------------------------------
# The directory: existence, lock, what it already holds


def prepare_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Create the results directory (and its parents) if needed; `ValueError` if that is impossible."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir (--out) {out} exists and is not a directory: choose a directory path")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"out_dir (--out) {out} cannot be created: {err.strerror or err}") from None
    return out


def _create_exclusive(path: Path, text: str) -> None:
    """Create `path` holding `text`; `FileExistsError` if it exists (O_EXCL: atomic, even over NFS v3+)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _read_lock(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ok = (
        isinstance(holder, dict)
        and isinstance(holder.get("pid"), int)
        and isinstance(holder.get("host"), str)
    )
    return holder if ok else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


@contextlib.contextmanager
def claim_out_dir(out: Path) -> Iterator[None]:
    """Hold `out/.lock` for the body: no second run writes into the directory meanwhile.

    The lock file holds this process's host name and pid and is removed when the body ends, by return or
    exception. A lock left by a process of this host that no longer runs (killed with SIGKILL) is taken
    over, with a warning; a live one, or one from another host, is refused with `ValueError`.
    """
    path = out / LOCK_FILE
    mine = {"host": socket.gethostname(), "pid": os.getpid()}
    text = json.dumps(mine)
    for attempt in range(2):
        try:
            _create_exclusive(path, text)
            break
        except FileExistsError:
            holder = _read_lock(path)
            stale = holder is not None and holder["host"] == mine["host"] and not _pid_alive(holder["pid"])
            if not stale or attempt:
                who = (
                    f"process {holder['pid']} on {holder['host']}"
                    if holder
                    else "a process (unreadable lock file)"
                )
                raise ValueError(
                    f"out_dir (--out) {out} is in use by {who}: wait for that run to finish, use another "
                    f"directory, or delete {path} if no run is using it"
                ) from None
            warnings.warn(
                f"{path} was left by process {holder['pid']}, which no longer runs: taking it over",
                stacklevel=3,
            )
            path.unlink(missing_ok=True)
        except OSError as err:
            if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise ValueError(f"out_dir (--out) {out} is not writable: {err.strerror}") from None
            raise
    try:
        yield
    finally:
        if _read_lock(path) == mine:
            path.unlink(missing_ok=True)


def check_out_dir(out: Path, record: dict, resume: bool, overwrite: bool) -> dict | None:
    """Decide what an existing results directory allows. Returns the saved record when resuming it.

    Raises:
        ValueError: the directory holds another run (or, without `resume` / `overwrite`, this one), an
            unreadable `config.json`, or checkpoints without a record.
    """
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
    if isinstance(saved, dict):
        saved = {k: v for k, v in saved.items() if k not in DERIVED_RECORD_FIELDS}
    diffs = record_differences(saved, record)
    if resume:
        if diffs:
            shown = "; ".join(diffs[:10]) + ("; ..." if len(diffs) > 10 else "")
            raise ValueError(
                f"cannot resume {out}: it holds a different run ({len(diffs)} difference(s): {shown}); "
                "resume with exactly the saved settings, or use another results directory"
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


def clear_run_files(out: Path) -> None:
    """Remove a previous run's files and checkpoints from `out` (and nothing else)."""
    for name in RESULT_FILES:
        (out / name).unlink(missing_ok=True)
    for name in (CHECKPOINT_DIR, CHECKPOINT_METRICS_DIR, TENSORBOARD_DIR):
        shutil.rmtree(out / name, ignore_errors=True)


def read_complete(out: Path) -> tuple[dict, dict[str, np.ndarray], np.ndarray] | None:
    """`(summary, metrics, env_steps)` of the complete run saved in `out`, None if it is not complete.

    A run is complete when its `summary.json` says so and its `metrics.npz` exists (both are written
    atomically at the end, metrics first). Reads only.
    """
    summary_path, metrics_path = out / "summary.json", out / "metrics.npz"
    if not (summary_path.is_file() and metrics_path.is_file()):
        return None
    try:
        summary = io.read_json(summary_path)
        with np.load(metrics_path, allow_pickle=False) as data:
            metrics = {name: data[name] for name in data.files if is_metric_key(name) or name == "env_steps"}
    except Exception as err:
        raise ValueError(
            f"{out} holds a finished run whose results are unreadable ({type(err).__name__}: {err}); "
            "pass overwrite=True (--overwrite) to run it again"
        ) from None
    if not summary.get("complete") or "env_steps" not in metrics:
        return None
    return summary, metrics, metrics.pop("env_steps")


# ----------------------------------------------------------------------------------------------------
# Summary and result files


def seed_summary(
    final: np.ndarray, healthy_blocks: np.ndarray, target: float | None = None
) -> dict[str, Any]:
    """Statistics of one setting's `[S]` final returns over its healthy seeds, and who diverged.

    `fraction_at_target` is over all `S` seeds, a diverged seed counting as one that did not reach the
    target (`final >= target`); it and `num_at_target` are None without a target.
    """
    healthy = healthy_blocks[:, -1].astype(bool) & np.isfinite(final)
    diverged = np.flatnonzero(~healthy)
    first_bad = np.argmax(~healthy_blocks.astype(bool), axis=1)
    return {
        **stats.final_scores(final, healthy, target),
        "diverged_seeds": diverged.tolist(),
        "diverged_at_block": {str(s): int(first_bad[s]) for s in diverged},
    }


def summarize(
    metrics: dict[str, np.ndarray],
    sweep_settings: list[dict] | None,
    swept: bool,
    labels: list[str] | None = None,
    target: Target | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The run summary: `fields` (run facts: algo, env, seeds, timings, ...) plus final-return statistics
    over the healthy seeds and the fraction of seeds at `target`, and the diverged seeds.

    A sweep's statistics are per setting only (`sweep[i]`, each with its `label`): the top-level
    `final_return` and `fraction_at_target` are None, so no reader takes the best setting's numbers for
    the run's; `best_setting` (index) and `best_setting_label` name the setting of highest IQM.
    """
    final = np.asarray(metrics["eval_return"])[..., -1]  # [(H,) S]
    healthy_blocks = np.asarray(metrics["healthy"])  # [(H,) S, B]
    summary = dict(fields)
    summary["target"] = None if target is None else target.value
    summary["target_source"] = None if target is None else target.source
    value = None if target is None else target.value
    if swept:
        names = sweep_settings or [{} for _ in range(final.shape[0])]
        labels = labels or [f"setting {i}" for i in range(final.shape[0])]
        summary["sweep"] = [
            {"hparams": setting, "label": labels[i], **seed_summary(final[i], healthy_blocks[i], value)}
            for i, setting in enumerate(names)
        ]
        scored = [i for i, s in enumerate(summary["sweep"]) if s["final_return"] is not None]
        best = max(scored, key=lambda i: summary["sweep"][i]["final_return"]["iqm"]) if scored else None
        summary["best_setting"] = best
        summary["best_setting_label"] = labels[best] if best is not None else None
        summary["final_return"] = None
        summary["fraction_at_target"] = None
        summary["per_setting"] = "a sweep: see sweep[i].final_return and sweep[i].fraction_at_target"
        summary["diverged_seeds"] = [
            [i, s] for i, e in enumerate(summary["sweep"]) for s in e["diverged_seeds"]
        ]
    else:
        summary["label"] = labels[0] if labels else None
        summary.update(seed_summary(final, healthy_blocks, value))
    summary["num_diverged"] = len(summary["diverged_seeds"])
    return summary


def setting_arrays(sweep_settings: list[dict] | None) -> dict[str, np.ndarray]:
    """The `metrics.npz` entries that name a sweep's rows: `setting.<field> [H]` per swept field."""
    arrays = {}
    for name in dict.fromkeys(k for setting in sweep_settings or [] for k in setting):
        arrays[SETTING_PREFIX + name] = np.asarray([s[name] for s in sweep_settings], np.float64)
    return arrays


def save_results(out_dir: Path, result: RunResult, swept: bool, sweep_settings: list[dict] | None) -> None:
    """Write `metrics.npz`, `summary.json` and `learning_curve.png` (every file atomically)."""
    from purerl import plots

    summary = result.summary
    io.save_npz(
        out_dir / "metrics.npz",
        env_steps=result.env_steps,
        **result.metrics,
        **setting_arrays(sweep_settings if swept else None),
    )
    io.write_json(out_dir / "summary.json", summary)
    eval_return = result.metrics["eval_return"]
    healthy = result.healthy
    # Diverged seeds' curves are NaN from their divergence on: the plot drops them and says how many.
    if swept:
        labels = [entry_label(e) for e in summary["sweep"]]
        curves = {
            label: (result.env_steps, eval_return[i]) for i, label in enumerate(labels) if healthy[i].any()
        }
    else:
        label = f"{summary['algo']} ({entry_label(summary)})"
        curves = {label: (result.env_steps, eval_return)} if healthy.any() else {}
    if curves:
        title = f"{summary['algo']} on {summary['env']} ({summary['num_seeds']} seeds)"
        plots.plot_learning_curves(
            curves, out_dir / "learning_curve.png", ylabel="evaluation return", title=title
        )
