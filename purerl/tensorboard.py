"""TensorBoard event files of a run, written by the host between chunks (`runner.run(tensorboard=True)`).

Layout under `out_dir/tensorboard/`: one directory per setting (its label, `purerl.labels`), and in it one
TensorBoard run per seed (`seed_<s>`, for the first `MAX_SEED_RUNS` seeds: each run is an open event file
and a writer thread, and TensorBoard cannot show thousands of curves anyway) plus `iqm`, the interquartile
mean over *all* the seeds whose value is finite at that step. Every metric of `purerl.metric_series`
shape is a scalar tagged by its name at the env step per seed where it was recorded; non-finite values
(a diverged seed) are not written, so a diverged seed's curve ends where it diverged.
Point TensorBoard at `out_dir/tensorboard`.

Only the event writer and protos shipped in the `tensorboard` package are used (no TensorFlow):
`pip install 'purerl[tensorboard]'`. A resumed run appends new event files and writes only steps past the
last one already in each run's directory, so no step is written twice even when a run was killed after
writing events past its last checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from purerl import stats
from purerl.metric_series import block_series

IQM_RUN = "iqm"
MAX_SEED_RUNS = 32


def require_tensorboard() -> None:
    """`ValueError` with the install line when the `tensorboard` package is missing."""
    try:
        import tensorboard.summary.writer.event_file_writer  # noqa: F401
    except ImportError:
        raise ValueError(
            "tensorboard=True (--tensorboard) needs the tensorboard package: "
            "pip install 'purerl[tensorboard]'"
        ) from None


def setting_dir_names(labels: list[str]) -> list[str]:
    """Directory names for setting labels: no path separators or spaces, unique."""
    names: list[str] = []
    for i, label in enumerate(labels):
        name = label.replace(", ", ",").replace("/", "_").replace(" ", "_") or f"setting_{i}"
        names.append(name if name not in names else f"{name}_{i}")
    return names


def last_step(run_dir: Path) -> int:
    """The largest step of any scalar already in `run_dir`'s event files (-1 if none)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    step = -1
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            if event.HasField("summary"):
                step = max(step, int(event.step))
    return step


class TensorBoardWriter:
    """Scalars of every (setting, seed) run, appended chunk by chunk.

    Args:
        root: the `tensorboard` directory of the run.
        labels: `[H]` setting labels (`[1]` for a plain run).
        num_seeds: seeds per setting `S`.
        steps_per_block: env steps per seed in one evaluation block.
        max_seed_runs: per-seed runs written for the first this many seeds.
    """

    def __init__(
        self,
        root: Path,
        labels: list[str],
        num_seeds: int,
        steps_per_block: int,
        max_seed_runs: int = MAX_SEED_RUNS,
    ):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._steps_per_block = steps_per_block
        self._runs: list[list[Path]] = []  # [H][min(S, max_seed_runs) + 1]: seeds, then the IQM
        for name in setting_dir_names(labels):
            runs = [root / name / f"seed_{s}" for s in range(min(num_seeds, max_seed_runs))]
            self._runs.append([*runs, root / name / IQM_RUN])
        paths = [path for runs in self._runs for path in runs]
        # Steps already written (a resumed run) are skipped: the resumed blocks are bit-identical.
        self._done = {path: last_step(path) if path.is_dir() else -1 for path in paths}
        self._writers = {}
        for path in paths:
            path.mkdir(parents=True, exist_ok=True)
            self._writers[path] = EventFileWriter(str(path), flush_secs=3600)

    def write_blocks(self, metrics: Mapping[str, np.ndarray], first_block: int) -> None:
        """Write `K` blocks of metrics `[H, S, K, ...]` starting at block `first_block`, then flush."""
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        wall_time = time.time()
        scalars: dict[Path, dict[int, list[Summary.Value]]] = {path: {} for path in self._writers}
        for name, raw in metrics.items():
            series = block_series(np.asarray(raw, np.float64), 2, first_block, self._steps_per_block)
            if series is None:
                continue
            _, steps, values = series  # values [H, S, N]
            for h, runs in enumerate(self._runs):
                for s, path in enumerate(runs[:-1]):
                    for step, value in zip(steps, values[h, s], strict=True):
                        if np.isfinite(value) and step > self._done[path]:
                            entry = Summary.Value(tag=name, simple_value=value)
                            scalars[path].setdefault(int(step), []).append(entry)
                for n, step in enumerate(steps):
                    finite = values[h, :, n][np.isfinite(values[h, :, n])]
                    if finite.size and step > self._done[runs[-1]]:
                        value = Summary.Value(tag=name, simple_value=stats.iqm(finite))
                        scalars[runs[-1]].setdefault(int(step), []).append(value)
        for path, by_step in scalars.items():
            writer = self._writers[path]
            for step in sorted(by_step):
                writer.add_event(Event(wall_time=wall_time, step=step, summary=Summary(value=by_step[step])))
                self._done[path] = max(self._done[path], step)
            writer.flush()

    def close(self) -> None:
        """Flush and close every event file."""
        for writer in self._writers.values():
            writer.close()
