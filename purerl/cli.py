"""`purerl` command line: train, list environments and algorithms.

purerl train ppo --env CartPole-v1 --seeds 64 --total-timesteps 500000 --out runs/x
purerl train ppo --env CartPole-v1 --set num_envs=8 --sweep learning_rate=1e-4,3e-4,1e-3
purerl envs
purerl algos
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from typing import Any

from purerl.config import field_names
from purerl.envs.registry import unknown_name_message


def _parse_value(field: str, text: str, default: Any) -> Any:
    """Parse `text` into the type of the field's default value."""
    try:
        if isinstance(default, bool):
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true/false")
        if isinstance(default, int):
            value = float(text)
            if not value.is_integer():
                raise ValueError("expected an integer")
            return int(value)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, tuple):
            parts = [p for p in text.strip("()[] ").split(",") if p.strip()]
            return tuple(int(p) for p in parts)
        return text
    except ValueError as err:
        raise ValueError(f"--set {field}={text!r}: {err} (field type {type(default).__name__})") from None


def _split_assignment(flag: str, item: str) -> tuple[str, str]:
    if "=" not in item or not item.split("=", 1)[0].strip():
        raise ValueError(f"{flag} expects FIELD=VALUE, got {item!r}")
    name, value = item.split("=", 1)
    return name.strip(), value.strip()


def build_config_and_hparams(algo: str, env: str, sets: Sequence[str], total_timesteps: int | None):
    """Defaults table -> `--total-timesteps` -> `--set` overrides. Returns `(spec, config, hparams)`."""
    from purerl.agents import get_algorithm
    from purerl.defaults import defaults_for
    from purerl.envs import registered

    spec = get_algorithm(algo)
    if env not in registered():
        raise ValueError(unknown_name_message("environment", env, registered()))
    config_over, hparam_over = defaults_for(algo, env)
    config_over = {**config_over, "env_name": env}
    if total_timesteps is not None:
        config_over["total_timesteps"] = total_timesteps
    config_fields = field_names(spec.config_cls)
    hparam_fields = field_names(spec.hparams_cls)
    config_defaults = {f.name: f.default for f in dataclasses.fields(spec.config_cls)}
    hparam_defaults = spec.hparams_cls()._asdict()
    for item in sets:
        name, text = _split_assignment("--set", item)
        if name in config_fields:
            config_over[name] = _parse_value(name, text, config_defaults[name])
        elif name in hparam_fields:
            hparam_over[name] = _parse_value(name, text, float(hparam_defaults[name]))
        else:
            valid = config_fields + hparam_fields
            raise ValueError("--set: " + unknown_name_message(f"{algo} field", name, valid))
    return spec, spec.config_cls(**config_over), spec.hparams_cls(**hparam_over)


def parse_sweep(spec, items: Sequence[str]) -> dict[str, list[float]]:
    sweep: dict[str, list[float]] = {}
    for item in items:
        name, text = _split_assignment("--sweep", item)
        if name not in spec.hparams_cls._fields:
            hint = (
                " (config fields change shapes: run them as separate jobs)"
                if name in field_names(spec.config_cls)
                else ""
            )
            raise ValueError(
                "--sweep: "
                + unknown_name_message(f"{spec.name} hyperparameter", name, spec.hparams_cls._fields)
                + hint
            )
        try:
            values = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"--sweep {name}: expected comma-separated numbers, got {text!r}") from None
        if not values:
            raise ValueError(f"--sweep {name}: no values given")
        sweep[name] = values
    return sweep


def format_table(summary: dict[str, Any]) -> str:
    """The end-of-run table: one row per setting."""
    from purerl.stats import format_ci

    header = f"{'setting':<36} {'final return IQM [95% CI]':>30} {'mean':>9} {'seeds':>6}"
    rows = []
    settings = summary.get("sweep") or [{"hparams": {}, "final_return": summary["final_return"]}]
    for s in settings:
        label = ", ".join(f"{k}={v:g}" for k, v in s["hparams"].items()) or "default"
        fr = s["final_return"]
        rows.append(f"{label:<36} {format_ci(fr):>30} {fr['mean']:>9.1f} {fr['num_seeds']:>6}")
    footer = (
        f"{summary['algo']} on {summary['env']}: {summary['total_timesteps']:,} env steps per seed, "
        f"{summary['env_steps_per_second']:,.0f} env steps/s, compile {summary['compile_seconds']:.1f} s, "
        f"run {summary['run_seconds']:.1f} s"
    )
    return "\n".join([header, "-" * len(header), *rows, footer])


def _cmd_train(args: argparse.Namespace) -> int:
    spec, config, hparams = build_config_and_hparams(args.algo, args.env, args.set, args.total_timesteps)
    sweep = parse_sweep(spec, args.sweep)
    settings = None
    if sweep:
        from purerl.runner import stack_hparams

        hparams, settings = stack_hparams(spec.hparams_cls, hparams, sweep)
    from purerl.runner import run

    result = run(
        spec.name,
        config,
        hparams,
        args.seeds,
        seed=args.seed,
        swept=bool(sweep),
        sweep_settings=settings,
        num_chunks=args.chunks,
        out_dir=args.out,
        progress=not args.no_progress,
    )
    print(format_table(result.summary))
    if args.out:
        print(f"results written to {args.out}")
    return 0


def _cmd_envs(_: argparse.Namespace) -> int:
    from purerl.envs import make, registered

    for name in registered():
        env, _params = make(name)
        print(f"{name:<28} obs {env.spec.observation_space.shape!s:<14} actions {env.spec.action_space}")
    return 0


def _cmd_algos(_: argparse.Namespace) -> int:
    from purerl.agents import algorithms

    for name, spec in algorithms().items():
        print(f"{name:<10} [{'/'.join(spec.action_spaces)}] {spec.summary}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="purerl", description="Pure-function JAX RL: many seeds, one program."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train an algorithm on many seeds and summarise")
    train.add_argument("algo", help="algorithm name (see `purerl algos`)")
    train.add_argument("--env", required=True, help="environment name (see `purerl envs`)")
    train.add_argument("--seeds", type=int, default=16, help="number of seeds (default 16)")
    train.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    train.add_argument("--total-timesteps", type=int, default=None, help="env steps per seed")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a config or hyperparameter field (repeatable)",
    )
    train.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="FIELD=V1,V2,...",
        help="sweep a hyperparameter in the same program (repeatable: grid)",
    )
    train.add_argument("--out", default=None, help="results directory")
    train.add_argument("--chunks", type=int, default=20, help="progress updates during the run (default 20)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=_cmd_train)
    sub.add_parser("envs", help="list registered environments").set_defaults(func=_cmd_envs)
    sub.add_parser("algos", help="list algorithms").set_defaults(func=_cmd_algos)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"purerl: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
