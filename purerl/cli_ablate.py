"""`purerl ablate`: the full method and each leave-one-out variant, traced ones in one program.

purerl ablate ppo --env CartPole-v1 --components norm_adv,clip_ratio,gae --seeds 16 --out runs/abl
purerl ablate ppo --env Pendulum-v1 --seeds 16          # every component that acts in this run

`purerl.cli.make_parser` adds it with `cli_ablate.add_commands(sub)`. Errors are one-line `ValueError`s
(an unknown component lists the valid ones); `cli.main` prints them as `purerl: error: ...`.
"""

from __future__ import annotations

import argparse


def _components(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError(f"--components expects comma-separated names, got {text!r}")
    return names


def _cmd_ablate(args: argparse.Namespace) -> int:
    from purerl.ablate import ablate
    from purerl.cli import parse_overrides

    if args.seeds < 1:
        raise ValueError(f"--seeds must be a positive integer, got {args.seeds}")
    if not 0 <= args.seed < 2**32:
        raise ValueError(f"--seed must be in [0, 2**32), got {args.seed}")
    spec, overrides = parse_overrides(args.algo, args.env, args.set, args.total_timesteps)
    result = ablate(
        spec.name,
        args.env,
        _components(args.components),
        args.seeds,
        seed=args.seed,
        out=args.out,
        target=args.target,
        run_options={"progress": not args.no_progress},
        **overrides,
    )
    print(result["table"])
    if args.out is not None:
        print(f"written to {args.out}: " + ", ".join(sorted(result["files"])))
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `ablate` to the `purerl` subcommands (`make_parser`'s `sub`)."""
    from purerl.cli import add_run_arguments

    ablate = subparsers.add_parser(
        "ablate", help="leave-one-out ablation: full method and each variant, same seeds, one program"
    )
    ablate.add_argument("algo", help="algorithm that declares components (e.g. ppo)")
    ablate.add_argument("--env", required=True, help="registered environment name")
    ablate.add_argument(
        "--components",
        default=None,
        metavar="A,B,...",
        help="components to switch off one at a time (default: every one that acts in this run)",
    )
    add_run_arguments(ablate)  # every variant runs these seeds; --set changes the full method
    ablate.add_argument("--out", default=None, metavar="DIR", help="write the table, JSON, plot and each run")
    ablate.add_argument("--target", type=float, default=None, help="return a seed must reach")
    ablate.add_argument("--no-progress", action="store_true", help="no progress bars")
    ablate.set_defaults(func=_cmd_ablate)
