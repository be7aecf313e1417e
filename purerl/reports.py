"""The files of a results table (`purerl compare`, `purerl ablate`): the text table, its JSON, the plots.

Every file is written atomically (`purerl.io`), and the JSON records where each file went.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from purerl import io


def write_report(
    out: Path,
    stem: str,
    result: dict[str, Any],
    curves: Mapping[str, tuple[Any, Any]],
    *,
    title: str | None = None,
    extra_plots: Mapping[str, Callable[[Path], Any]] | None = None,
) -> dict[str, str]:
    """Writes `<stem>.json`, `<stem>.txt` (`result["table"]`), `learning_curves.png` and extra plots to `out`.

    Args:
        out: the directory (created if missing).
        stem: name of the JSON and table files.
        result: JSON-serialisable result with its formatted `"table"`; the JSON gets `"files"` added.
        curves: per entry name, `(steps [T], returns [num_seeds, T])` (`plots.plot_learning_curves`).
        title: the learning-curve plot's title.
        extra_plots: per name, a function that draws `<name>.png` at the path it is given.

    Returns:
        Per file kind (`"json"`, `"table"`, `"learning_curves"`, then each extra plot's name), its path.
    """
    from purerl import plots  # matplotlib only when files are written

    extra_plots = extra_plots or {}
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": out / f"{stem}.json", "table": out / f"{stem}.txt"}
    files["learning_curves"] = out / "learning_curves.png"
    files.update({name: out / f"{name}.png" for name in extra_plots})
    plots.plot_learning_curves(curves, files["learning_curves"], ylabel="evaluation return", title=title)
    for name, draw in extra_plots.items():
        draw(files[name])
    with io.atomic_path(files["table"]) as tmp:
        tmp.write_text(result["table"] + "\n", encoding="utf-8")
    written = {k: str(v) for k, v in files.items()}
    io.write_json(files["json"], {**result, "files": written})
    return written
