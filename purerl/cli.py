"""`purerl` command line: train, list environments and algorithms.

purerl train ppo --env CartPole-v1 --seeds 64 --total-timesteps 500000 --out runs/x
purerl train ppo --env CartPole-v1 --set num_envs=8 --sweep learning_rate=1e-4,3e-4,1e-3
purerl train ppo --env CartPole-v1 --seeds 4096 --out runs/x --resume     # continue after a kill
purerl eval runs/x --episodes 100 --seeds 0,1                              # saved policies, fresh episodes
purerl envs
purerl algos

Every input is checked before anything is compiled: a typo fails in about a second with a message that
names the field, its valid range and, for unknown names, the closest valid ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from purerl.config import field_names, unknown_name_message
from purerl.tables import format_eval_table, format_table

_MAX_SEED = 2**32


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
            try:
                value = float(text)
            except ValueError:
                raise ValueError("expected an integer") from None
            if not value.is_integer():
                raise ValueError("expected an integer")
            return int(value)
        if isinstance(default, float):
            try:
                return float(text)
            except ValueError:
                raise ValueError("expected a number") from None
        if isinstance(default, tuple):
            if text.strip().startswith("{"):  # a mapping such as env_kwargs, as JSON
                try:
                    mapping = json.loads(text)
                except json.JSONDecodeError as err:
                    raise ValueError(f"invalid JSON ({err})") from None
                if not isinstance(mapping, dict):
                    raise ValueError("expected a JSON object")
                return mapping
            parts = [p.strip() for p in text.strip("()[] ").split(",") if p.strip()]
            try:
                return tuple(int(p) for p in parts)
            except ValueError:
                raise ValueError("expected comma-separated integers, e.g. 64,64") from None
        return text
    except ValueError as err:
        raise ValueError(f"--set {field}={text!r}: {err} (field type {type(default).__name__})") from None


def _split_assignment(flag: str, item: str) -> tuple[str, str]:
    if "=" not in item or not item.split("=", 1)[0].strip():
        raise ValueError(f"{flag} expects FIELD=VALUE, got {item!r}")
    name, value = item.split("=", 1)
    return name.strip(), value.strip()


# Config fields with their own flag: `--set` would silently replace the flag's value.
_FLAG_FIELDS = {"env_name": "--env"}


def parse_overrides(algo: str, env: str, sets: Sequence[str], total_timesteps: int | None):
    """`--total-timesteps` and `--set FIELD=VALUE` items, parsed to each field's type.

    Returns `(spec, overrides)`; an unknown algorithm, environment or field raises `ValueError`.
    """
    from purerl.agents import get_algorithm
    from purerl.envs import registered
    from purerl.games import registered_games

    spec = get_algorithm(algo)
    names = registered() + registered_games()
    if env not in names:
        raise ValueError("--env: " + unknown_name_message("environment", env, names))
    overrides: dict[str, Any] = {}
    if total_timesteps is not None:
        overrides["total_timesteps"] = total_timesteps
    config_fields = field_names(spec.config_cls)
    hparam_fields = field_names(spec.hparams_cls)
    config_defaults = {f.name: f.default for f in dataclasses.fields(spec.config_cls)}
    hparam_defaults = spec.hparams_cls()._asdict()
    for item in sets:
        name, text = _split_assignment("--set", item)
        if name in _FLAG_FIELDS:
            raise ValueError(f"--set {name}: give it as {_FLAG_FIELDS[name]}, not as --set")
        if name in overrides:
            if name == "total_timesteps":
                raise ValueError("--set total_timesteps: already given as --total-timesteps; give it once")
            raise ValueError(f"--set {name} is given twice: give each field once")
        if name in config_fields:
            overrides[name] = _parse_value(name, text, config_defaults[name])
        elif name in hparam_fields:
            overrides[name] = _parse_value(name, text, float(hparam_defaults[name]))
        else:
            valid = config_fields + hparam_fields
            raise ValueError("--set: " + unknown_name_message(f"{algo} field", name, valid))
    return spec, overrides


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options that say which runs a command trains, `--seeds`, `--seed`, `--total-timesteps`
    and `--set`, shared by `train` and `ablate`; `parse_overrides` reads the last two."""
    parser.add_argument("--seeds", type=int, default=16, help="number of seeds (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="base seed, in [0, 2**32) (default 0)")
    parser.add_argument("--total-timesteps", type=int, default=None, help="env steps per seed")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a config or hyperparameter field (repeatable)",
    )


def build_config_and_hparams(algo: str, env: str, sets: Sequence[str], total_timesteps: int | None):
    """The algorithm's preset for `env` -> `--total-timesteps` -> `--set` overrides.

    Returns `(spec, config, hparams)`, both validated (the config on construction, the hyperparameters
    by `validate_hparams`), so every `ValueError` is raised before anything is traced.
    """
    spec, overrides = parse_overrides(algo, env, sets, total_timesteps)
    return (spec, *spec.preset(env, **overrides))


def parse_sweep(spec, items: Sequence[str]) -> dict[str, list[float]]:
    """`--sweep FIELD=V1,V2,...` items -> `{field: [values]}` (a grid over all given fields)."""
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
        if name in sweep:
            raise ValueError(f"--sweep {name} is given twice: list all its values in one --sweep")
        try:
            values = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"--sweep {name}: expected comma-separated numbers, got {text!r}") from None
        if not values:
            raise ValueError(f"--sweep {name}: no values given")
        sweep[name] = values
    return sweep


def _check_train_flags(args: argparse.Namespace) -> None:
    """Flag values argparse cannot check by type alone, named as the user typed them."""
    positive = {"--seeds": args.seeds, "--chunks": args.chunks, "--keep-checkpoints": args.keep_checkpoints}
    for flag, value in positive.items():
        if value < 1:
            raise ValueError(f"{flag} must be a positive integer, got {value}")
    if args.total_timesteps is not None and args.total_timesteps < 1:
        raise ValueError(f"--total-timesteps must be a positive integer, got {args.total_timesteps}")
    if not 0 <= args.seed < _MAX_SEED:
        raise ValueError(f"--seed must be in [0, 2**32), got {args.seed}")
    if args.checkpoint_every < 0:
        raise ValueError(
            f"--checkpoint-every must be >= 0 (0 = only when --stop-after-chunks stops the run), "
            f"got {args.checkpoint_every}"
        )
    if args.stop_after_chunks is not None and args.stop_after_chunks < 1:
        raise ValueError(f"--stop-after-chunks must be a positive integer, got {args.stop_after_chunks}")
    if isinstance(args.resume, str):
        if args.out is not None and args.out != args.resume:
            raise ValueError(f"--resume {args.resume} and --out {args.out} name different directories")
        args.out = args.resume
    if args.resume and args.out is None:
        raise ValueError("--resume needs the run's results directory: --resume DIR or --out DIR --resume")
    if args.resume and args.overwrite:
        raise ValueError("--resume and --overwrite exclude each other: continue the saved run or replace it")
    if args.stop_after_chunks is not None and args.out is None:
        raise ValueError("--stop-after-chunks needs --out: a stopped run continues from its checkpoint")
    cluster = {
        "--coordinator-address": args.coordinator_address,
        "--num-processes": args.num_processes,
        "--process-id": args.process_id,
    }
    given = [flag for flag, value in cluster.items() if value is not None]
    if given and not args.distributed:
        raise ValueError(f"{', '.join(given)} only apply with --distributed")
    if args.num_processes is not None and args.num_processes < 1:
        raise ValueError(f"--num-processes must be a positive integer, got {args.num_processes}")
    if args.process_id is not None:
        high = args.num_processes if args.num_processes is not None else None
        if args.process_id < 0 or (high is not None and args.process_id >= high):
            valid = f"be in [0, {high}) (--num-processes)" if high is not None else "be >= 0"
            raise ValueError(f"--process-id must {valid}, got {args.process_id}")


def _init_distributed(args: argparse.Namespace) -> None:
    """`jax.distributed.initialize()` before anything touches a device (auto-detects Slurm, Open MPI and
    cloud TPU settings when the flags are not given)."""
    import jax

    kwargs = {
        "coordinator_address": args.coordinator_address,
        "num_processes": args.num_processes,
        "process_id": args.process_id,
    }
    jax.distributed.initialize(**{k: v for k, v in kwargs.items() if v is not None})


def _cmd_train(args: argparse.Namespace) -> int:
    _check_train_flags(args)
    if args.distributed:
        # First: building the config imports gymnax (through the env registry), which creates arrays
        # and so starts JAX's backend, after which jax.distributed.initialize() refuses to run.
        _init_distributed(args)
    from purerl import api

    spec, overrides = parse_overrides(args.algo, args.env, args.set, args.total_timesteps)
    sweep = parse_sweep(spec, args.sweep)
    result = api.train(
        args.algo,
        args.env,
        args.seeds,
        seed=args.seed,
        sweep=sweep,
        out=args.out,
        devices=_global_devices() if args.distributed else None,  # None: api.train's local layout
        run_options={
            "num_chunks": args.chunks,
            "progress": not args.no_progress,
            "checkpoint_every": args.checkpoint_every,
            "keep_checkpoints": args.keep_checkpoints,
            "resume": bool(args.resume),
            "overwrite": args.overwrite,
            "stop_after_chunks": args.stop_after_chunks,
            "debug_nans": args.debug_nans,
        },
        target=args.target,
        tensorboard=args.tensorboard,
        **overrides,
    )
    import jax

    if jax.process_index() == 0:
        print(format_table(result.summary))
        if result.from_disk:
            print(f"{args.out} already holds this run, complete: nothing was run or rewritten")
        elif args.out and result.summary["complete"]:
            print(f"results written to {args.out}")
    return 0


def _parse_seed_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--seeds expects comma-separated seed indices, e.g. 0,3, got {text!r}") from None


def _cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from purerl import io, saved

    out = Path(args.run) / saved.eval_file(args.policy)
    if out.exists() and not args.overwrite:
        raise ValueError(f"{out} exists; pass --overwrite to replace it")
    if not 0 <= args.seed < _MAX_SEED:
        raise ValueError(f"--seed must be in [0, 2**32), got {args.seed}")
    run = saved.load_run(args.run)
    import jax

    greedy = None if args.policy is None else args.policy == "greedy"
    evaluation = saved.evaluate_run(
        run, jax.random.key(args.seed), args.episodes, _parse_seed_list(args.seeds), greedy
    )
    print(format_eval_table(run, evaluation))
    io.write_json(out, {"seed": args.seed, **evaluation})
    print(f"written to {out}")
    return 0


def _cmd_envs(_: argparse.Namespace) -> int:
    from purerl.envs import make, registered
    from purerl.games import make_game, registered_games

    for name in registered():
        env, _params = make(name)
        print(f"{name:<28} obs {env.spec.observation_space.shape!s:<14} actions {env.spec.action_space}")
    print("\ntwo-player games (alphazero):")
    for name in registered_games():
        game = make_game(name)
        moves = f"at most {game.max_length} moves"
        print(f"{name:<28} obs {game.obs_shape!s:<14} actions {game.num_actions} ({moves})")
    return 0


def _cmd_check_env(args: argparse.Namespace) -> int:
    from purerl.envs import make, registered
    from purerl.envs.check import check_env

    if args.env not in registered():
        raise ValueError("check-env: " + unknown_name_message("environment", args.env, registered()))
    kwargs = _parse_value("env_kwargs", args.kwargs, ()) if args.kwargs else {}
    env, params = make(args.env, **kwargs)
    problems = check_env(env, params)
    for problem in problems:
        print(f"- {problem}")
    verdict = f"{len(problems)} contract violation(s)" if problems else "keeps the Env contract"
    print(f"{args.env}: {verdict} (reset/step under jit and vmap, spaces, flags, final_obs, determinism)")
    return 1 if problems else 0


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
    # Imported after the device setup in `main`, so a user module that starts JAX keeps the layout.
    imports = argparse.ArgumentParser(add_help=False)
    imports.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a module (dotted name or .py path) that registers environments (repeatable)",
    )
    train = sub.add_parser("train", parents=[imports], help="train an algorithm on many seeds and summarise")
    train.add_argument("algo", help="algorithm name (see `purerl algos`)")
    train.add_argument("--env", required=True, help="environment name (see `purerl envs`)")
    add_run_arguments(train)
    train.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="FIELD=V1,V2,...",
        help="sweep a hyperparameter in the same program (repeatable: grid)",
    )
    train.add_argument("--out", default=None, help="results directory")
    train.add_argument("--chunks", type=int, default=20, help="progress updates during the run (default 20)")
    train.add_argument(
        "--checkpoint-every",
        type=int,
        default=1,
        metavar="N",
        help="checkpoint every N chunks when --out is given (default 1; 0 = only on the chunk where "
        "--stop-after-chunks stops the run)",
    )
    train.add_argument(
        "--keep-checkpoints", type=int, default=2, metavar="K", help="keep the last K checkpoints (default 2)"
    )
    train.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="DIR",
        help="continue the run in --out (or DIR) from its last checkpoint; the settings must match",
    )
    train.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    train.add_argument(
        "--stop-after-chunks",
        type=int,
        default=None,
        metavar="N",
        help="run at most N chunks, checkpoint and exit (for time-limited job slots; continue with --resume)",
    )
    train.add_argument(
        "--debug-nans",
        action="store_true",
        help="raise at the first operation producing a NaN (jax_debug_nans; slow) instead of freezing seeds",
    )
    train.add_argument(
        "--distributed",
        action="store_true",
        help="multi-host: call jax.distributed.initialize() and shard the seeds over every host's devices",
    )
    train.add_argument(
        "--coordinator-address", default=None, help="with --distributed: host:port of process 0"
    )
    train.add_argument("--num-processes", type=int, default=None, help="with --distributed: number of hosts")
    train.add_argument("--process-id", type=int, default=None, help="with --distributed: this host's index")
    train.add_argument(
        "--target",
        type=float,
        default=None,
        help="return a seed must reach to count as solved (default: the env's conventional threshold)",
    )
    train.add_argument(
        "--tensorboard", action="store_true", help="with --out: write TensorBoard event files between chunks"
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(func=_cmd_train)
    evaluate = sub.add_parser(
        "eval", parents=[imports], help="evaluate the saved policies of a run (writes RUN/eval.json)"
    )
    evaluate.add_argument("run", help="results directory of a run (purerl train --out)")
    evaluate.add_argument("--episodes", type=int, default=100, help="fresh episodes per seed (default 100)")
    evaluate.add_argument("--seeds", default=None, metavar="I,J,...", help="seed indices (default: all)")
    evaluate.add_argument("--seed", type=int, default=0, help="key of the evaluation episodes (default 0)")
    evaluate.add_argument(
        "--policy",
        choices=("greedy", "sampled"),
        default=None,
        help="act with the policy's mode or sample it (default: as the run evaluated); the result goes to "
        "eval_greedy.json / eval_sampled.json instead of eval.json",
    )
    evaluate.add_argument("--overwrite", action="store_true", help="replace an existing result file")
    evaluate.set_defaults(func=_cmd_eval)
    from purerl.cli_ablate import add_commands as add_ablate_commands
    from purerl.cli_runs import add_commands

    add_commands(sub)  # export, compare
    add_ablate_commands(sub)  # ablate
    sub.add_parser("envs", parents=[imports], help="list registered environments").set_defaults(
        func=_cmd_envs
    )
    check = sub.add_parser(
        "check-env", parents=[imports], help="check an environment against the Env contract"
    )
    check.add_argument("env", help="registered environment name")
    check.add_argument("--kwargs", default=None, metavar="JSON", help="factory options, as a JSON object")
    check.set_defaults(func=_cmd_check_env)
    sub.add_parser("algos", help="list algorithms").set_defaults(func=_cmd_algos)
    return parser


def use_cpu_cores_as_devices() -> None:
    """On a multi-core CPU, give XLA one host device per core, so the runner shards the seeds over them.

    XLA:CPU parallelises one program's small ops poorly; several devices run their shards concurrently.
    Measured on 2 cores (benchmarks/results/seed_scaling_cpu.json, ppo_throughput_cpu.json): 2.9x the env
    steps/s of one device for 256 seeds. The option is read when JAX creates its CPU client, so it is
    added only before that (a `main()` called after JAX has run, e.g. from a test, changes nothing);
    a user's own `--xla_force_host_platform_device_count` wins. Accelerators are unaffected.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return
    try:
        from jax._src import xla_bridge

        if xla_bridge.backends_are_initialized():
            return
    except (ImportError, AttributeError):
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores > 1:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={cores}".strip()


def _global_devices() -> list[Any]:
    import jax

    return jax.devices()


def local_devices_for(num_runs: int) -> list[Any]:
    """This host's devices to shard `num_runs` runs over: all of them, except that CPU devices beyond
    `num_runs / MIN_RUNS_PER_DEVICE` are left out (they would only run padding)."""
    import jax

    from purerl.runner import MIN_RUNS_PER_DEVICE

    devices = jax.local_devices()
    if devices[0].platform != "cpu":
        return devices
    return devices[: max(1, min(len(devices), num_runs // MIN_RUNS_PER_DEVICE))]


def _latest_checkpoint(out: str) -> Path | None:
    """The newest step directory under `out/checkpoints` (read off the file names: no orbax)."""
    from purerl.results import CHECKPOINT_DIR

    steps = [p for p in (Path(out) / CHECKPOINT_DIR).glob("*") if p.name.isdigit() and p.is_dir()]
    return max(steps, key=lambda p: int(p.name), default=None)


def _resume_hint(args: argparse.Namespace, argv: Sequence[str]) -> str:
    """How to continue an interrupted `train`: the same command with `--resume`."""
    if args.command != "train" or not args.out:
        return "nothing was saved (no --out)"
    command = shlex.join(["purerl", *(a for a in argv if a != "--overwrite")])
    command += "" if args.resume else " --resume"
    latest = _latest_checkpoint(args.out)
    where = f"the last checkpoint is {latest}" if latest else f"no checkpoint in {args.out} yet"
    return f"{where}; continue with: {command}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = make_parser().parse_args(argv)
    if not getattr(args, "distributed", False):  # multi-host runs keep the hosts' own device setup
        use_cpu_cores_as_devices()
    try:
        if hasattr(args, "imports"):
            from purerl.plugins import import_env_modules, load_entry_points

            load_entry_points()
            import_env_modules(args.imports)
        return args.func(args)
    except ValueError as err:
        print(f"purerl: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\npurerl: interrupted: {_resume_hint(args, argv)}", file=sys.stderr)
        return 130
    except OSError as err:  # a full disk, a read-only or vanished results directory
        where = f" ({err.filename})" if err.filename else ""
        hint = f"; {_resume_hint(args, argv)}" if args.command == "train" else ""
        print(f"purerl: error: {err.strerror or err}{where}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
