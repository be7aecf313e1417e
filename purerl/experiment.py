"""What every `experiments/*.py` script shares: its command line, its output directory, the machine."""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path


def parse_args(
    name: str,
    doc: str,
    argv: Sequence[str] | None,
    results: Path,
    quick_help: str,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> tuple[argparse.Namespace, Path]:
    """Parses an experiment's `--quick` and `--out` (and its own options) and creates its output directory.

    Args:
        name: the experiment (its script's stem): the quick run writes to `runs/<name>_quick/`.
        doc: the script's docstring; its first paragraph is the `--help` description.
        argv: arguments (None: `sys.argv[1:]`).
        results: where the full run writes (the committed results directory).
        quick_help: what `--quick` runs.
        add_arguments: adds the script's own options to the parser.

    Returns:
        `(args, out)`: `out` is `--out`, else `results` for the full run, created if missing.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0].strip())
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output directory (default {results}, with --quick runs/{name}_quick)",
    )
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    out = args.out or (Path(f"runs/{name}_quick") if args.quick else results)
    out.mkdir(parents=True, exist_ok=True)
    return args, out


def add_seed(parser: argparse.ArgumentParser) -> None:
    """`--seed`, the root of every key the experiment draws (an `add_arguments` for `parse_args`)."""
    parser.add_argument("--seed", type=int, default=0, help="root PRNG seed (default 0)")


def machine() -> str:
    """The host for a report, e.g. `"x86_64, 2 CPU cores"`."""
    return f"{platform.machine()}, {os.cpu_count()} CPU cores"


def load_average() -> str:
    """The 1 / 5 / 15 minute load averages, e.g. `"1.9 / 2.0 / 1.4"`: how shared the machine was."""
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def host_summary() -> str:
    """Where a report's wall time was measured, for its budget line, e.g. `"1 CPU device(s), x86_64, 2 CPU
    cores (1 / 5 / 15 minute load averages at the end: 1.4 / 1.3 / 1.2)"`: a load above the core count
    says the machine was shared."""
    import jax

    return (
        f"{jax.device_count()} {jax.devices()[0].platform.upper()} device(s), {machine()} "
        f"(1 / 5 / 15 minute load averages at the end: {load_average()})"
    )
