"""`purerl export` and `purerl compare`: commands that read complete runs (and never write into them,
except `export`'s default `RUN/metrics.csv`).

purerl export runs/x                    # runs/x/metrics.csv: setting, seed, block, env_step, metric, value
purerl export runs/x --csv x.csv
purerl compare runs/a runs/b --out cmp/ # table; cmp/compare.json, learning_curves.png, ...

`purerl.cli.make_parser` adds these with `cli_runs.add_commands(sub)`. Errors are `ValueError` with one
line naming the flag or directory; `cli.main` prints them as `purerl: error: ...`.
"""

from __future__ import annotations

import argparse
import math


def _cmd_export(args: argparse.Namespace) -> int:
    from purerl.export import export_csv

    path = export_csv(args.run, args.csv)
    print(f"written to {path}")
    return 0


def _target(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--target must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"--target must be finite, got {text!r}")
    return value


def _cmd_compare(args: argparse.Namespace) -> int:
    from purerl.compare import compare_runs

    result = compare_runs(args.runs, args.out, force=args.force, target=_target(args.target))
    print(result["table"])
    if args.out is not None:
        print(f"written to {args.out}: " + ", ".join(sorted(result["files"])))
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `export` and `compare` to the `purerl` subcommands (`make_parser`'s `sub`)."""
    export = subparsers.add_parser("export", help="write a run's metrics as a long-format CSV")
    export.add_argument("run", help="results directory of a complete run (purerl train --out)")
    export.add_argument("--csv", default=None, metavar="PATH", help="destination (default RUN/metrics.csv)")
    export.set_defaults(func=_cmd_export)
    compare = subparsers.add_parser(
        "compare", help="compare runs: IQM [CI], mean, fraction at target, P(improvement), plots"
    )
    compare.add_argument(
        "runs", nargs="+", metavar="RUN", help="results directories; the first is the baseline"
    )
    compare.add_argument("--out", default=None, metavar="DIR", help="write compare.json, the table and plots")
    compare.add_argument("--force", action="store_true", help="compare runs on different envs anyway")
    compare.add_argument(
        "--target", default=None, help="return a seed must reach (default: each run's, from its env)"
    )
    compare.set_defaults(func=_cmd_compare)
