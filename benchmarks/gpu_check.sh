#!/usr/bin/env bash
# The GPU check: chainrule's op and nn test suites on the GPU, then MLP training
# timed against PyTorch CUDA. One command, from the repository root:
#
#     bash benchmarks/gpu_check.sh            # table in benchmarks/results/gpu_check.md
#
# It runs chainrule from this working tree (no install), uses the CuPy, PyTorch,
# pytest and hypothesis that are installed, installs one only where it is missing
# and pip can reach a registry, and prints the packages and versions it used.
# Without a usable GPU it runs the same steps on the CPU stand-in device that the
# test suite uses (tests/fake_device.py) and says so: a check of the script, not
# of a GPU. Budget: about 8 minutes (each step has its own timeout).
set -u
cd "$(dirname "$0")/.."
OUT_DIR=${OUT_DIR:-benchmarks/results}
mkdir -p "$OUT_DIR"
REPORT="$OUT_DIR/gpu_check.md"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}

have() { "$PY" -c "import $1" >/dev/null 2>&1; }
try_install() {  # try_install MODULE PIP-SPEC...
    local mod=$1; shift
    have "$mod" && return 0
    echo "[gpu_check] $mod is missing; trying: pip install $*"
    timeout 120 "$PY" -m pip install -q "$@" >/dev/null 2>&1 || true
    have "$mod" || echo "[gpu_check] $mod could not be installed (no registry?)"
}

try_install pytest pytest
try_install hypothesis hypothesis
if ! have cupy && command -v nvidia-smi >/dev/null 2>&1; then
    CUDA_MAJOR=$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: \([0-9]*\).*/\1/p' | head -1)
    if [ "${CUDA_MAJOR:-0}" -ge 13 ]; then try_install cupy cupy-cuda13x; else try_install cupy cupy-cuda12x; fi
fi

DEVICE=fake
if "$PY" -c "import cupy, sys; sys.exit(cupy.cuda.runtime.getDeviceCount() < 1)" >/dev/null 2>&1; then
    DEVICE=cuda
fi

{
    echo "# chainrule GPU check ($(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
    echo
    if [ "$DEVICE" = cuda ]; then
        echo "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
    else
        echo "No usable GPU (CuPy missing or no device): ran on the CPU stand-in device 'fake'."
    fi
    echo "CPU: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
    echo
    echo "Packages:"
    "$PY" - <<'EOF'
import importlib, platform
print(f"- python {platform.python_version()}")
for name in ("numpy", "cupy", "torch", "pytest", "hypothesis"):
    try:
        m = importlib.import_module(name)
        extra = ""
        if name == "torch":
            extra = f" (CUDA {m.version.cuda}, available: {m.cuda.is_available()})"
        if name == "cupy":
            try:
                extra = f" (CUDA runtime {m.cuda.runtime.runtimeGetVersion()})"
            except Exception as e:
                extra = f" ({type(e).__name__})"
        print(f"- {name} {m.__version__}{extra}")
    except Exception as e:
        print(f"- {name}: not available ({type(e).__name__})")
EOF
    echo
} > "$REPORT"

echo "[gpu_check] op and nn suites on device '$DEVICE'"
TESTS_LOG="$OUT_DIR/gpu_check_tests.log"
CHAINRULE_TEST_DEVICE=$DEVICE timeout 300 "$PY" -m pytest -q -p no:cacheprovider \
    tests/ops tests/nn tests/test_kernels.py tests/test_device.py > "$TESTS_LOG" 2>&1
TEST_RC=$?
{
    echo "## Tests (CHAINRULE_TEST_DEVICE=$DEVICE, tests/ops tests/nn tests/test_kernels.py tests/test_device.py)"
    echo
    echo '```'
    tail -n 3 "$TESTS_LOG"
    echo '```'
    echo
    echo "## MLP training"
    echo
} >> "$REPORT"

echo "[gpu_check] MLP timing"
timeout 200 "$PY" benchmarks/gpu_mlp.py --device "$DEVICE" --rounds 3 \
    --out "$OUT_DIR/gpu_mlp.md" || echo "(timing failed or timed out)" >> "$REPORT"
[ -f "$OUT_DIR/gpu_mlp.md" ] && cat "$OUT_DIR/gpu_mlp.md" >> "$REPORT"

cat "$REPORT"
echo "[gpu_check] written to $REPORT (test log: $TESTS_LOG)"
exit $TEST_RC
