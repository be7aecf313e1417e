"""Python side of `benchmarks/device_suite.sh` (the prepared GPU run): preflight, the Breakout-MinAtar PPO
point, and the per-step bookkeeping. Not meant to be run by hand; see the shell script.

    python benchmarks/device_suite.py preflight --platform gpu --out DEVICE.json
    python benchmarks/device_suite.py breakout --seeds 64 --total-timesteps 1000000 --out RESULT.json
    python benchmarks/device_suite.py record --step NAME --json RESULT.json --rc 0 --wall 12.3 \\
        --timeout 170 --device DEVICE.json --suite SUITE.json
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# (module, distribution) the suite needs besides purerl itself (pyproject's dependencies; six because
# gymnax imports it without declaring it). The shell script installs the missing ones from carried wheels.
REQUIRED = [
    ("jax", "jax"),
    ("flax", "flax"),
    ("optax", "optax"),
    ("chex", "chex"),
    ("numpy", "numpy"),
    ("matplotlib", "matplotlib"),
    ("tqdm", "tqdm"),
    ("six", "six"),
    ("seaborn", "seaborn"),
    ("cloudpickle", "cloudpickle"),
    ("typing_extensions", "typing-extensions"),
    ("farama_notifications", "farama-notifications"),
    ("gymnasium", "gymnasium"),
    ("gymnax", "gymnax"),
    ("svgwrite", "svgwrite"),
    ("pgx", "pgx"),
    ("mctx", "mctx"),
]

# The PPO Breakout-MinAtar setting of the suite: the MinAtar preset's accelerator setting (MinAtar CNN,
# 64 envs x 128 steps, 4 epochs x 8 minibatches, lr 5e-4) at a budget of steps that fits the suite.
BREAKOUT_ENV = "Breakout-MinAtar"
RANDOM_POLICY_NOTE = (
    "uniformly random policy: 0.2 [0.1, 0.3] (benchmarks/results/algo_learning/random_Breakout-MinAtar.json)"
)


def missing_modules() -> list[str]:
    """Distributions of `REQUIRED` whose module cannot be found here (looked up, not imported)."""
    return [dist for module, dist in REQUIRED if importlib.util.find_spec(module) is None]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _nvidia_smi() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        proc = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None


def preflight(args: argparse.Namespace) -> int:
    for module, dist in REQUIRED:
        try:
            importlib.import_module(module)
        except Exception as err:
            print(f"device_suite: {dist} does not import: {err!r}", file=sys.stderr)
            return 2
    import jax

    from purerl.envs import make

    for name in ("CartPole-v1", BREAKOUT_ENV):
        make(name)  # the gymnax adapter and both environments load
    devices = jax.devices()
    platform_name = devices[0].platform
    if args.platform == "gpu" and platform_name != "gpu":
        print(f"device_suite: asked for a GPU, JAX's first device is {devices[0]!r}", file=sys.stderr)
        return 3
    versions = {dist: _version(dist) for _, dist in REQUIRED}
    import gymnax

    info = {
        "platform": platform_name,
        "device_kind": devices[0].device_kind,
        "devices": [f"{d} ({d.device_kind})" for d in devices],
        "device_count": len(devices),
        "nvidia_smi": _nvidia_smi(),
        "environment": {
            k: os.environ.get(k) for k in ("JAX_PLATFORMS", "XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE")
        },
        "python": platform.python_version(),
        "executable": sys.executable,
        "versions": versions,
        "gymnax_path": str(Path(gymnax.__file__).parent),
        "host": {"cpu_count": os.cpu_count(), "machine": platform.machine(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    print(
        f"device_suite: {len(devices)} x {info['device_kind']} ({platform_name}), jax {versions['jax']}, "
        f"flax {versions['flax']}, gymnax {versions['gymnax']}, python {info['python']}"
    )
    return 0


def breakout(args: argparse.Namespace) -> int:
    """PPO on Breakout-MinAtar through `purerl train` (in this process), into a temporary results
    directory without checkpoints; its summary, with the run's settings, is written to `--out`."""
    from purerl import cli, io

    sets = [item for s in args.set for item in ("--set", s)]
    with tempfile.TemporaryDirectory(prefix="device_suite_breakout_") as tmp:
        run_dir = Path(tmp) / "run"
        argv = [
            "train", "ppo", "--env", BREAKOUT_ENV, "--seeds", str(args.seeds),
            "--total-timesteps", str(args.total_timesteps), *sets,
            "--out", str(run_dir), "--checkpoint-every", "0", "--chunks", "1", "--no-progress",
        ]  # fmt: skip
        start = time.perf_counter()
        status = cli.main(argv)
        wall = time.perf_counter() - start
        if status != 0:
            return status
        summary = io.read_json(run_dir / "summary.json")
        record = io.read_json(run_dir / "config.json") if (run_dir / "config.json").exists() else None
    summary["wall_seconds"] = wall
    out_at = argv.index("--out")
    summary["command"] = "purerl " + " ".join(argv[:out_at] + argv[out_at + 2 :])  # not the temporary --out
    summary["run_record"] = record
    summary["target"] = "above random"
    summary["random_policy"] = RANDOM_POLICY_NOTE
    io.write_json(args.out, summary)
    return 0


def _headline(step: str, data: dict[str, Any]) -> str:
    """One line of what a step's JSON says."""
    if step == "seed_scaling":
        points = data.get("seed_points", [])
        ok = [p for p in points if "error" not in p]
        parts = [f"{p['seeds']}: {p['env_steps_per_second']:,.0f}" for p in ok]
        errors = [f"{p['seeds']}: {p['error']}" for p in points if "error" in p]
        text = "env steps/s by seeds " + (", ".join(parts) or "none")
        if errors:
            text += "; errors " + "; ".join(errors)
        if not data.get("complete", True):
            text += " (incomplete: stopped before its last point)"
        return text
    if step == "ppo_throughput":
        parts = []
        for p in data.get("points", []):
            ratio = p.get("ratio_to_reference")
            parts.append(
                f"{p['num_seeds']}: {p['env_steps_per_second']:,.0f}"
                + (f" ({ratio:.2f}x ref)" if ratio else "")
            )
        return "env steps/s by seeds " + ", ".join(parts)
    if step == "breakout":
        final = data.get("final_return") or {}
        if not final:
            return "no healthy seed"
        return (
            f"{data['num_seeds']} seeds x {data['total_timesteps']:,} steps: final return IQM "
            f"{final['iqm']:.2f} [{final['ci_low']:.2f}, {final['ci_high']:.2f}], mean {final['mean']:.2f}; "
            f"{data['env_steps_per_second']:,.0f} env steps/s, compile {data['compile_seconds']:.0f} s, "
            f"run {data['run_seconds']:.0f} s"
        )
    return ""


def record(args: argparse.Namespace) -> int:
    """Stamp a step's JSON with the device and the suite's facts, add the step to the suite's JSON and
    print the step's summary line. Exit status 0 when the step succeeded and its JSON parses."""
    device = json.loads(Path(args.device).read_text()) if Path(args.device).exists() else None
    path = Path(args.json)
    status, headline, data = "ok", "", None
    if args.rc in (124, 137):
        status = f"TIMED OUT after {args.timeout} s"
    elif args.rc != 0:
        status = f"FAILED (exit {args.rc})"
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            status = f"FAILED (unreadable JSON: {err})"
    elif status == "ok":
        status = "FAILED (no JSON written)"
    if data is not None:
        data["device_suite"] = {
            "device": device,
            "step": args.step,
            "exit_status": args.rc,
            "wall_seconds": args.wall,
            "timeout_seconds": args.timeout,
            "mode": args.mode,
            "command": args.step_command,
        }
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        try:
            headline = _headline(args.step, data)
        except (KeyError, TypeError, ValueError) as err:
            headline = f"(could not summarise: {err!r})"
    suite_path = Path(args.suite)
    suite = json.loads(suite_path.read_text()) if suite_path.exists() else {"device": device, "steps": []}
    suite["steps"] = [s for s in suite["steps"] if s["step"] != args.step]
    suite["steps"].append(
        {
            "step": args.step,
            "status": status,
            "exit_status": args.rc,
            "wall_seconds": round(args.wall, 1),
            "timeout_seconds": args.timeout,
            "json": str(path) if data is not None else None,
            "summary": headline,
            "command": args.step_command,
        }
    )
    suite_path.write_text(json.dumps(suite, indent=2, sort_keys=True) + "\n")
    print(f"[device_suite] {args.step}: {status} in {args.wall:.0f} s -> {path.name}; {headline}", flush=True)
    return 0 if status == "ok" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("preflight")
    p.add_argument("--platform", choices=("cpu", "gpu"), required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=preflight)
    p = sub.add_parser("missing")
    p.set_defaults(func=lambda _: print(" ".join(missing_modules())) or 0)
    p = sub.add_parser("breakout")
    p.add_argument("--seeds", type=int, required=True)
    p.add_argument("--total-timesteps", type=int, required=True)
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    p.add_argument("--out", required=True)
    p.set_defaults(func=breakout)
    p = sub.add_parser("record")
    p.add_argument("--step", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--rc", type=int, required=True)
    p.add_argument("--wall", type=float, required=True)
    p.add_argument("--timeout", type=int, required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--suite", required=True)
    p.add_argument("--mode", default="gpu")
    p.add_argument("--step-command", default="", help="the command the step ran")
    p.set_defaults(func=record)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
