"""`purerl export RUN`: a run's metrics as one tidy (long-format) CSV file.

One row per recorded value: `setting, seed, block, env_step, metric, value`. `setting` is the setting's
label (`purerl.labels`: "preset", or e.g. "learning_rate=0.0003" in a sweep), `seed` the seed index,
`block` the evaluation block, `env_step` the env steps per seed when the value was recorded (per update
for training metrics, see `purerl.metric_series`), `value` a float (`nan` for a diverged seed, booleans
as 0/1). Load it with e.g. `pandas.read_csv(path)` and pivot as needed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from purerl import io
from purerl.metric_series import block_series
from purerl.run_files import read_run_files

COLUMNS = ("setting", "seed", "block", "env_step", "metric", "value")
CSV_FILE = "metrics.csv"


def export_csv(run_dir: str | Path, path: str | Path | None = None) -> Path:
    """Write the long-format CSV of a complete run (atomically).

    Args:
        run_dir: results directory written by `purerl train --out` / `runner.run(out_dir=...)`.
        path: destination; default `run_dir/metrics.csv`.

    Returns:
        The path written.

    Raises:
        ValueError: `run_dir` holds no complete run, or `path` is a directory.
    """
    run = read_run_files(run_dir)
    final = Path(path) if path is not None else run.path / CSV_FILE
    if final.is_dir():
        raise ValueError(f"--csv {final} is a directory: give a file path")
    with io.atomic_path(final) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        # eval_return first: the metric most readers want, at the top of the file.
        for name in sorted(run.metrics, key=lambda n: (n != "eval_return", n)):
            series = block_series(np.asarray(run.metrics[name], np.float64), 2, 0, run.steps_per_block)
            if series is None:
                continue
            blocks, steps, values = series  # values [H, S, N]
            for h, label in enumerate(run.labels):
                for s in range(values.shape[1]):
                    writer.writerows(
                        (label, s, int(b), int(t), name, repr(float(v)))
                        for b, t, v in zip(blocks, steps, values[h, s], strict=True)
                    )
    return final
