"""The result files of a complete run, read without JAX: what `export` and `compare` work from.

Reads `config.json`, `summary.json` and `metrics.npz` of a directory written by `runner.run(out_dir=...)`
/ `purerl train --out` (see `purerl.results`) and never writes to it. Metrics always get a leading setting
axis here (`[H, S, blocks, ...]`, `H = 1` for a plain run), so readers need no sweep/plain branches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from purerl import io
from purerl.labels import entry_label
from purerl.results import is_metric_key


class RunFiles(NamedTuple):
    """A complete run's files.

    Attributes:
        path: the run directory.
        record: config.json.
        summary: summary.json.
        metrics: every metric `[H, S, blocks, ...]`.
        env_steps: `[blocks]` env steps per seed at the end of each block.
        labels: `[H]` setting labels.
        entries: `[H]` summary entries (per setting: `final_return`, `fraction_at_target`, ...).
    """

    path: Path
    record: dict[str, Any]
    summary: dict[str, Any]
    metrics: dict[str, np.ndarray]
    env_steps: np.ndarray
    labels: list[str]
    entries: list[dict[str, Any]]

    @property
    def env(self) -> str | None:
        return self.summary.get("env") or self.record.get("config", {}).get("env_name")

    @property
    def swept(self) -> bool:
        return self.record.get("sweep") is not None

    @property
    def steps_per_block(self) -> int:
        return int(self.env_steps[0]) if self.env_steps.size else 0


def read_run_files(path: str | Path) -> RunFiles:
    """Read a complete run (`ValueError` naming the directory and what is missing or unreadable)."""
    out = Path(path)
    names = {"config.json": "not a purerl run directory", "summary.json": "the run did not complete"}
    names["metrics.npz"] = "the run did not complete"
    for name, why in names.items():
        if not (out / name).is_file():
            raise ValueError(f"{out}: no {name} ({why}; resume it with purerl train --resume {out})")
    try:
        record = io.read_json(out / "config.json")
        summary = io.read_json(out / "summary.json")
        with np.load(out / "metrics.npz", allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"{out}: unreadable result files ({type(err).__name__}: {err})") from None
    if not summary.get("complete") or "env_steps" not in arrays:
        raise ValueError(f"{out}: the run did not complete (resume it with purerl train --resume {out})")
    swept = record.get("sweep") is not None
    metrics = {k: v if swept else v[None] for k, v in arrays.items() if is_metric_key(k)}
    entries = summary.get("sweep") or [summary]
    labels = [entry_label(e) for e in entries]
    return RunFiles(out, record, summary, metrics, arrays["env_steps"], labels, entries)
