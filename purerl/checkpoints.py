"""Orbax checkpoints of a run's full training state, with the metrics of the blocks completed so far.

A checkpoint after `b` completed blocks is the orbax step `b` under `out/checkpoints/`: the state of
every run (params, optimiser and env state, buffers; typed PRNG keys as raw key data), each run's health
flag and loop key, and a JSON metadata item (format, block counts, run-axis padding, chunk size, the
digest of the run record and the state's layout) that a resume checks before anything is compiled. The
metrics of blocks `0..b-1` are saved next to it as `out/checkpoint_metrics/<b>.npz`, and the SHA-256 of
every file of the step as `<b>.sha256.json`: a resume checks them first, so a damaged checkpoint is
named by purerl before orbax and tensorstore ever read it (their own errors come with pages of
tracebacks from background threads).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding

from purerl import io
from purerl.results import CHECKPOINT_DIR, CHECKPOINT_METRICS_DIR, FORMAT_VERSION


def _is_key(x: Any) -> bool:
    return jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def state_layout(abstract_state: Any) -> list[list]:
    """`[[path, shape, dtype], ...]` of every state leaf: a checkpoint must hold exactly this layout."""
    leaves = jax.tree_util.tree_leaves_with_path(abstract_state)
    return [[jax.tree_util.keystr(path), list(x.shape), str(x.dtype)] for path, x in leaves]


def _key_data_shape() -> tuple[int, ...]:
    """Shape of one key's raw data under the default PRNG implementation (abstract: no key is made)."""
    seed = jax.ShapeDtypeStruct((), jnp.uint32)
    return jax.eval_shape(lambda s: jax.random.key_data(jax.random.key(s)), seed).shape


class Checkpoints:
    """Orbax checkpoints of the run state plus an `.npz` of the completed blocks' metrics per step.

    The step number is the number of completed blocks. The metrics file is written (atomically) before
    the orbax step, which orbax finalises atomically, so a step directory that exists always has its
    metrics; a metrics file without its step (a kill in between) is ignored and later replaced.

    Saves are synchronous: the next chunk donates the state's buffers, and a checkpoint that exists is
    complete. Each operation opens and closes its own `CheckpointManager`, so an error (a corrupt
    checkpoint) never leaves one open.
    """

    def __init__(self, out: Path, keep: int, read_only: bool = False):
        """Args: out: the results directory; keep: how many of the latest steps to keep; read_only:
        never create or delete anything (for readers of a saved run, `saved.load_run`)."""
        import orbax.checkpoint as ocp

        self._ocp = ocp
        self.directory = (out / CHECKPOINT_DIR).absolute()
        self.metrics_dir = out / CHECKPOINT_METRICS_DIR
        self.options = ocp.CheckpointManagerOptions(
            max_to_keep=None if read_only else keep,
            create=not read_only,
            read_only=read_only,
            enable_async_checkpointing=False,
        )

    def _manager(self):
        return self._ocp.CheckpointManager(self.directory, options=self.options)

    def steps(self) -> list[int]:
        """Saved steps (completed block counts), ascending."""
        with self._manager() as manager:
            return sorted(manager.all_steps())

    def save(
        self,
        step: int,
        state: Any,
        healthy: Any,
        loop_key_data: Any,
        meta: dict,
        metrics: dict[str, np.ndarray],
    ) -> None:
        """Save step `step`: the sharded `state`, `healthy` and `loop_key_data`, `meta` and the host
        `metrics` of blocks `0..step-1`; then drop metrics files whose step orbax no longer keeps."""
        ocp = self._ocp
        # Leaves are named by position: orbax treats parts of richer names as a path. Typed PRNG keys (if
        # an agent keeps any in its state) are saved as their raw key data.
        leaves = jax.tree.leaves(state)
        saved = {f"leaf_{i:05d}": jax.random.key_data(x) if _is_key(x) else x for i, x in enumerate(leaves)}
        arrays = {"state": saved, "healthy": healthy, "loop_key_data": loop_key_data}
        if jax.process_index() == 0:
            io.save_npz(self.metrics_dir / f"{step}.npz", **metrics)
        args = ocp.args.Composite(arrays=ocp.args.StandardSave(arrays), meta=ocp.args.JsonSave(meta))
        with self._manager() as manager:
            manager.save(step, args=args, force=True)
            manager.wait_until_finished()
        kept = set(self.steps())  # on every process: a CheckpointManager of several hosts syncs them
        if jax.process_index() == 0:
            io.write_json(self._digest_path(step), self._digests(step))
            for path in self.metrics_dir.iterdir():
                stem = path.name.split(".")[0]
                if stem.isdigit() and int(stem) not in kept:
                    path.unlink(missing_ok=True)

    def _digest_path(self, step: int) -> Path:
        return self.metrics_dir / f"{step}.sha256.json"

    def _digests(self, step: int) -> dict[str, str]:
        """`{relative path: sha256}` of every file of step `step`."""
        root = self.directory / str(step)
        digests = {}
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            with open(path, "rb") as f:
                digests[str(path.relative_to(root))] = hashlib.file_digest(f, "sha256").hexdigest()
        return digests

    def verify(self, step: int) -> None:
        """`ValueError` naming the first file of step `step` that is missing or changed since it was
        saved (a step saved without digests, by a kill between orbax and the digest file, passes)."""
        path = self._digest_path(step)
        if not path.exists():
            return
        try:
            saved = io.read_json(path)
        except (OSError, ValueError) as err:
            raise self._unreadable(step, err) from err
        root = self.directory / str(step)
        current = self._digests(step)
        for name, digest in saved.items():
            if name not in current:
                raise self._unreadable(step, ValueError(f"{root / name} is missing"))
            if current[name] != digest:
                problem = f"{root / name} changed since it was saved (SHA-256 mismatch)"
                raise self._unreadable(step, ValueError(problem))

    def describe(self, step: int) -> str:
        """`"checkpoint <path>"`, for messages."""
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
        detail = " ".join(detail.split())  # one line
        detail = detail if len(detail) <= 400 else detail[:400] + " ..."
        return ValueError(
            f"{self.describe(step)} is corrupt or unreadable ({type(err).__name__}: {detail}). Nothing was "
            f"overwritten.{hint}"
        )

    def read_meta(self, step: int) -> dict:
        """The metadata of step `step` (`ValueError` if unreadable or not a purerl checkpoint)."""
        ocp = self._ocp
        self.verify(step)
        try:
            with self._manager() as manager:
                meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except Exception as err:
            raise self._unreadable(step, err) from err
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"{self.describe(step)} is not a purerl format-{FORMAT_VERSION} checkpoint (metadata "
                f"{meta!r:.200}). Nothing was overwritten."
            )
        return meta

    def restore(
        self, step: int, sharding: NamedSharding, state_aval: Any, healthy_aval: Any
    ) -> tuple[Any, Any, Any]:
        """`(state, healthy, loop_key_data)` of step `step`, as global arrays with `sharding`."""
        leaves, treedef = jax.tree.flatten(state_aval)
        targets = {
            f"leaf_{i:05d}": jax.eval_shape(jax.random.key_data, x) if _is_key(x) else x
            for i, x in enumerate(leaves)
        }
        key_data = jax.ShapeDtypeStruct((healthy_aval.shape[0], *_key_data_shape()), jnp.uint32)
        tree = {"state": targets, "healthy": healthy_aval, "loop_key_data": key_data}
        abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)
        ocp = self._ocp
        self.verify(step)
        try:
            args = ocp.args.Composite(arrays=ocp.args.StandardRestore(abstract))
            with self._manager() as manager:
                arrays = manager.restore(step, args=args)["arrays"]
        except Exception as err:
            raise self._unreadable(step, err) from err
        restored = [
            jax.random.wrap_key_data(arrays["state"][f"leaf_{i:05d}"], impl=jax.random.key_impl(x))
            if _is_key(x)
            else arrays["state"][f"leaf_{i:05d}"]
            for i, x in enumerate(leaves)
        ]
        return jax.tree.unflatten(treedef, restored), arrays["healthy"], arrays["loop_key_data"]

    def read_metrics(self, step: int, num_runs: int) -> dict[str, np.ndarray]:
        """The `[num_runs, step, ...]` metrics saved with step `step`."""
        path = self.metrics_dir / f"{step}.npz"
        try:
            # allow_pickle=False: a checkpoint is data, never code.
            with np.load(path, allow_pickle=False) as data:
                metrics = {name: data[name] for name in data.files}
        except Exception as err:
            raise ValueError(
                f"the metrics of {self.describe(step)} ({path}) are missing or unreadable "
                f"({type(err).__name__}: {' '.join(str(err).split())}). Nothing was overwritten."
            ) from err
        for name, value in metrics.items():
            if value.shape[:2] != (num_runs, step):
                raise ValueError(
                    f"{self.describe(step)}: metric {name!r} has shape {value.shape}, expected "
                    f"({num_runs}, {step}, ...). Nothing was overwritten."
                )
        return metrics


def check_meta(meta: dict, where: str, expected: dict, step: int, num_blocks: int) -> None:
    """`ValueError` unless checkpoint metadata `meta` (of step `step`, described by `where`) has every
    `expected` entry and a `next_block` equal to its step, a multiple of its chunk size, <= `num_blocks`."""
    for name, value in expected.items():
        if meta.get(name) != value:
            shown = "differs" if name in ("state_layout", "record_sha256") else f"is {meta.get(name)!r}"
            raise ValueError(
                f"{where} does not match this run: its {name} {shown} (this run: "
                f"{'see config.json' if name == 'record_sha256' else value!r}). Nothing was overwritten."
            )
    next_block, chunk_blocks = meta.get("next_block"), meta.get("chunk_blocks")
    if next_block != step or next_block % chunk_blocks or next_block > num_blocks:
        raise ValueError(f"{where} has an invalid next_block={next_block!r}. Nothing was overwritten.")


def resume_chunk_blocks(meta: dict, where: str, num_blocks: int) -> int:
    """The chunk size a checkpoint was saved with (a resumed run keeps it)."""
    chunk_blocks = meta.get("chunk_blocks")
    valid = isinstance(chunk_blocks, int) and not isinstance(chunk_blocks, bool) and chunk_blocks >= 1
    if not valid or num_blocks % chunk_blocks:
        raise ValueError(f"{where} has an invalid chunk_blocks={chunk_blocks!r}. Nothing was overwritten.")
    return chunk_blocks
