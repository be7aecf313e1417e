#!/usr/bin/env bash
# The prepared GPU run: every GPU point of the benchmarks in one script that fits a short device lease
# (under 8 minutes in all, each step under its own timeout), writing JSON with a `_gpu` suffix.
#
#   bash benchmarks/device_suite.sh                   # on the GPU machine: writes benchmarks/results/*_gpu.*
#   bash benchmarks/device_suite.sh --copy-to "$OUT"  # ... and copies the results (<= 8 files) there too
#   bash benchmarks/device_suite.sh --dry-run         # CPU, tiny sizes, into a temporary folder (CI checks this)
#   bash benchmarks/device_suite.sh --fetch-wheels    # here, with pip access: wheels the GPU machine lacks
#
# Steps (GPU sizes; `--dry-run` runs each at a tiny size on CPU, with XLA:CPU's optimisations off):
#   seed_scaling    PPO CartPole-v1 at 1, 4, 16, ..., 4096 seeds, 3 timed updates per point, each point in a
#                   fresh process with a 60 s limit (seed_scaling.py --platform gpu); timeout 120 s
#   ppo_throughput  PPO CartPole-v1, classic config, 1/64/1024 seeds x 1e5 steps, one purerl/reference
#                   pair per point (ppo_throughput.py); timeout 100 s
#   selfplay        AlphaZero self-play moves/s and simulations/s, tic-tac-toe MLP and connect-four residual
#                   CNN, 1 and 64 seeds (selfplay_throughput.py); timeout 80 s
#   sequence        transformer KV-cache sampler vs full recompute, SFT and GRPO tokens/s, 1 and 64 seeds
#                   (sequence_throughput.py); timeout 70 s
#   breakout        PPO Breakout-MinAtar, 64 seeds x 1M steps, the defaults table's accelerator setting
#                   (MinAtar CNN, 64 envs x 128 steps), through `purerl train`; gets what is left (<= 300 s)
# Each step runs under `timeout` (its own limit, capped by what is left of the suite's 470 s budget) and
# ends with one summary line; a step that fails or times out does not stop the others, and the two
# scaling scripts rewrite their JSON after every point, so a timed-out step keeps the points it finished.
# The exit status is 0 only if every step ran to the end and wrote JSON that parses. Each JSON gets a
# "device_suite" entry naming the device; the suite's own record is device_suite_<suffix>.json (with the
# device), its log device_suite_<suffix>.log. On the GPU, memory is allocated as needed
# (XLA_PYTHON_CLIENT_PREALLOCATE=false): ppo_throughput.py's parent holds the GPU while its points run.
#
# Packages: the GPU machine has jax (CUDA), flax, optax and chex but not gymnax, pgx or mctx. Missing packages are
# installed from wheels in $PURERL_WHEELS (default: .whl/ in the repository, ignored by git) into a
# temporary folder put on PYTHONPATH; nothing is fetched. Fill .whl/ here with `--fetch-wheels` and name it
# in the device call's `carry`. A package missing with no wheel for it stops the suite before any step.
#
# Options: --results-dir DIR, --copy-to DIR, --only STEP[,STEP] (none: packages and preflight only).
# Environment overrides: PYTHON (default python3), SUITE_BUDGET_S (470 s GPU, 330 s dry run),
# SUITE_TIMEOUT_SEED_SCALING / _THROUGHPUT / _SELFPLAY / _SEQUENCE / _BREAKOUT (seconds), SUITE_MAX_SEEDS (4096),
# SUITE_BREAKOUT_SEEDS (64), SUITE_BREAKOUT_STEPS (1000000), PURERL_WHEELS, SUITE_FORCE_INSTALL=1 (install
# the wheels even where the packages exist: tests the install path).
set -u -o pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || exit 2
PYTHON="${PYTHON:-python3}"
WHEELS="${PURERL_WHEELS:-$REPO/.whl}"
# Pure-Python wheels the GPU machine lacks (versions tested here; see pyproject.toml).
FETCH_WHEELS=(gymnax==1.0.1 gymnasium==1.3.0 farama-notifications==0.0.6 pgx==2.6.0 mctx==0.0.71 svgwrite==1.4.3)

MODE=gpu
RESULTS_DIR=""
COPY_TO=""
ONLY=""
usage() { sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run | --cpu) MODE=dryrun ;;
        --results-dir) RESULTS_DIR="$2"; shift ;;
        --copy-to) COPY_TO="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        --fetch-wheels) MODE=fetch ;;
        -h | --help) usage; exit 0 ;;
        *) echo "device_suite: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

die() { echo "device_suite: ERROR: $*" >&2; exit 2; }

if [ "$MODE" = fetch ]; then
    mkdir -p "$WHEELS"
    "$PYTHON" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$WHEELS" "${FETCH_WHEELS[@]}" || die "pip download failed"
    ls -l "$WHEELS"
    echo "device_suite: carry '${WHEELS#"$REPO"/}' in the device call (it is ignored by git)"
    exit 0
fi

if [ "$MODE" = gpu ]; then
    SUFFIX=gpu
    PLATFORM=gpu
    export JAX_PLATFORMS="${JAX_PLATFORMS:-cuda}"
    # Two processes that each take 75% of the GPU's memory up front do not fit (see the header).
    export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"
    RESULTS_DIR="${RESULTS_DIR:-$REPO/benchmarks/results}"
    BUDGET="${SUITE_BUDGET_S:-470}"
    T_SEED="${SUITE_TIMEOUT_SEED_SCALING:-120}"
    T_THRU="${SUITE_TIMEOUT_THROUGHPUT:-100}"
    T_SELF="${SUITE_TIMEOUT_SELFPLAY:-80}"
    T_SEQ="${SUITE_TIMEOUT_SEQUENCE:-70}"
    T_BREAK="${SUITE_TIMEOUT_BREAKOUT:-300}"  # the last step: in effect, what is left of the budget
else
    SUFFIX=dryrun
    PLATFORM=cpu
    export JAX_PLATFORMS=cpu
    # XLA:CPU's cheapest pipeline, as in tests/conftest.py (compiles several times faster): the dry run
    # proves the steps work, its numbers mean nothing.
    if [[ "${XLA_FLAGS:-}" != *xla_backend_optimization_level* ]]; then
        export XLA_FLAGS="${XLA_FLAGS:+$XLA_FLAGS }--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
    fi
    RESULTS_DIR="${RESULTS_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/device_suite_dryrun.XXXXXX")}"
    # About a minute on 2 idle cores; the limits leave room for a loaded CI machine.
    BUDGET="${SUITE_BUDGET_S:-330}"
    T_SEED="${SUITE_TIMEOUT_SEED_SCALING:-80}"
    T_THRU="${SUITE_TIMEOUT_THROUGHPUT:-80}"
    T_SELF="${SUITE_TIMEOUT_SELFPLAY:-60}"
    T_SEQ="${SUITE_TIMEOUT_SEQUENCE:-60}"
    T_BREAK="${SUITE_TIMEOUT_BREAKOUT:-90}"
fi
mkdir -p "$RESULTS_DIR" || die "cannot create $RESULTS_DIR"
RESULTS_DIR="$(cd "$RESULTS_DIR" && pwd)"
LOG="$RESULTS_DIR/device_suite_$SUFFIX.log"
SUITE_JSON="$RESULTS_DIR/device_suite_$SUFFIX.json"
rm -f "$SUITE_JSON"
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1
export PYTHONUNBUFFERED=1
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
HELPER="$REPO/benchmarks/device_suite.py"
DEVICE_JSON="$(mktemp "${TMPDIR:-/tmp}/device_suite_device.XXXXXX")"  # copied into every JSON
START=$SECONDS
echo "device_suite: mode $MODE, results in $RESULTS_DIR, budget $BUDGET s, python $(command -v "$PYTHON")"
command -v timeout >/dev/null || die "'timeout' (coreutils) is not installed"
command -v "$PYTHON" >/dev/null || die "no $PYTHON"

# --- packages: install the missing ones from carried wheels --------------------------------------------
missing="$("$PYTHON" "$HELPER" missing)" || die "could not check the installed packages"
if [ -n "${SUITE_FORCE_INSTALL:-}" ]; then missing="gymnax gymnasium farama-notifications pgx mctx svgwrite"; fi  # to test it
if [ -n "$missing" ]; then
    echo "device_suite: missing here: $missing; installing from $WHEELS"
    [ -d "$WHEELS" ] || die "no wheel folder $WHEELS: run 'bash benchmarks/device_suite.sh --fetch-wheels' \
where pip can reach the registry, then name .whl in the device call's carry"
    SITE="$(mktemp -d "${TMPDIR:-/tmp}/device_suite_site.XXXXXX")"
    # shellcheck disable=SC2086  # $missing is a list of names
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --disable-pip-version-check --target "$SITE" --find-links "$WHEELS" $missing \
        || die "could not install '$missing' from the wheels in $WHEELS ($(ls "$WHEELS" 2>/dev/null | tr '\n' ' '))"
    export PYTHONPATH="$SITE:$PYTHONPATH"
    still="$("$PYTHON" "$HELPER" missing)" || die "could not check the installed packages"
    [ -z "$still" ] || die "still missing after installing the wheels: $still"
fi
"$PYTHON" "$HELPER" preflight --platform "$PLATFORM" --out "$DEVICE_JSON" || die "preflight failed (see above)"
if command -v nvidia-smi >/dev/null; then nvidia-smi -L; fi

# --- steps ----------------------------------------------------------------------------------------------
FAILED=0
RAN=0
run_step() {  # run_step NAME TIMEOUT JSON COMMAND...
    local name="$1" limit="$2" json="$3"
    shift 3
    if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]]; then return 0; fi
    local left=$((BUDGET - (SECONDS - START) - 15))  # 15 s: the kill grace and the bookkeeping
    if [ "$left" -lt "$limit" ]; then limit=$left; fi
    RAN=$((RAN + 1))
    echo
    echo "[device_suite] $name: start (timeout ${limit} s): $*"
    rm -f "$json"
    local t0=$SECONDS rc=0
    if [ "$limit" -lt 10 ]; then
        echo "[device_suite] $name: skipped, the suite's budget is spent"
        rc=124
    else
        timeout -k 10 "$limit" "$@"
        rc=$?
    fi
    "$PYTHON" "$HELPER" record --step "$name" --json "$json" --rc "$rc" --wall $((SECONDS - t0)) \
        --timeout "$limit" --device "$DEVICE_JSON" --suite "$SUITE_JSON" --mode "$MODE" \
        --step-command "$*" || FAILED=$((FAILED + 1))
}

if [ "$MODE" = gpu ]; then
    SEED_ARGS=(--platform gpu --max-seeds "${SUITE_MAX_SEEDS:-4096}" --updates 3 --point-timeout 60)
    THRU_ARGS=(--seeds 1 64 1024 --repeats 1 --total-timesteps 100000)
    BREAK_SEEDS="${SUITE_BREAKOUT_SEEDS:-64}"
    BREAK_STEPS="${SUITE_BREAKOUT_STEPS:-1000000}"
    BREAK_SETS=()
    SELF_ARGS=(--seeds 1 64 --workloads tictactoe_mlp connect_four_resnet --min-seconds 2)
    SEQ_ARGS=(--seeds 1 64 --repeats 1 --min-seconds 2)
else
    SEED_ARGS=(--platform cpu --seeds 2 --max-seeds 2 --updates 1 --point-timeout 70)
    THRU_ARGS=(--seeds 1 --repeats 1 --total-timesteps 1024)
    BREAK_SEEDS="${SUITE_BREAKOUT_SEEDS:-2}"
    BREAK_STEPS="${SUITE_BREAKOUT_STEPS:-64}"
    BREAK_SETS=(--set num_envs=4 --set num_steps=8 --set num_epochs=1 --set num_minibatches=1
        --set eval_episodes=1 --set eval_max_steps=16)
    SELF_ARGS=(--quick --seeds 1 --workloads tictactoe_mlp)
    SEQ_ARGS=(--quick --seeds 1 --repeats 1)
fi

# One device: the device-count points of seed_scaling would repeat its 256-seed point, so none run.
run_step seed_scaling "$T_SEED" "$RESULTS_DIR/seed_scaling_$SUFFIX.json" \
    "$PYTHON" benchmarks/seed_scaling.py "${SEED_ARGS[@]}" --envs CartPole-v1 --device-counts "" \
    --out "$RESULTS_DIR/seed_scaling_$SUFFIX.json"
run_step ppo_throughput "$T_THRU" "$RESULTS_DIR/ppo_throughput_$SUFFIX.json" \
    "$PYTHON" benchmarks/ppo_throughput.py "${THRU_ARGS[@]}" --out "$RESULTS_DIR/ppo_throughput_$SUFFIX.json"
run_step selfplay "$T_SELF" "$RESULTS_DIR/selfplay_throughput_$SUFFIX.json" \
    "$PYTHON" benchmarks/selfplay_throughput.py "${SELF_ARGS[@]}" --out "$RESULTS_DIR/selfplay_throughput_$SUFFIX.json"
run_step sequence "$T_SEQ" "$RESULTS_DIR/sequence_throughput_$SUFFIX.json" \
    "$PYTHON" benchmarks/sequence_throughput.py "${SEQ_ARGS[@]}" --out "$RESULTS_DIR/sequence_throughput_$SUFFIX.json"
run_step breakout "$T_BREAK" "$RESULTS_DIR/ppo_breakout_minatar_$SUFFIX.json" \
    "$PYTHON" "$HELPER" breakout --seeds "$BREAK_SEEDS" --total-timesteps "$BREAK_STEPS" "${BREAK_SETS[@]}" \
    --out "$RESULTS_DIR/ppo_breakout_minatar_$SUFFIX.json"

echo
echo "device_suite: $((RAN - FAILED)) of $RAN steps ok in $((SECONDS - START)) s; results in $RESULTS_DIR"
if [ -n "$COPY_TO" ]; then
    mkdir -p "$COPY_TO"
    for f in "$RESULTS_DIR"/seed_scaling_"$SUFFIX".json "$RESULTS_DIR"/seed_scaling_"$SUFFIX".png \
        "$RESULTS_DIR"/ppo_throughput_"$SUFFIX".json "$RESULTS_DIR"/ppo_breakout_minatar_"$SUFFIX".json \
        "$RESULTS_DIR"/selfplay_throughput_"$SUFFIX".json "$RESULTS_DIR"/sequence_throughput_"$SUFFIX".json \
        "$SUITE_JSON" "$LOG"; do
        [ -f "$f" ] && cp "$f" "$COPY_TO"/
    done
    echo "device_suite: copied the results to $COPY_TO"
fi
[ "$FAILED" -eq 0 ]
