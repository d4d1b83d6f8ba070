#!/usr/bin/env bash
# The GPU check of issue 11, under 10 minutes on one GPU:
#   1. the CUDA tests (pytest -m cuda);
#   2. benchmarks/bench_deep_vi.py on DT-VIN, 100×100 mazes, batch 32, A = 10 latent actions,
#      K = 100 (for the autograd memory estimate), 1000 and 5000, every memory mode: training-step
#      time, forward time per layer, peak GPU memory, the device's copy bandwidth measured in the same
#      run and the forward layer time against the bound (bytes a layer must read ÷ that bandwidth),
#      and the targets (K = 5000 in ≤ 6 GB; layer time ≤ 2× the bound);
#   3. benchmarks/bench_large_graphs.py on an 8-connected grid and a k = 8 roadmap of 10k, 100k and 1M
#      nodes (issue 19): build, exact planner, ms per layer and ns per edge at K = 1000, and a training
#      step at K = 1000 with its peak GPU memory.
#
# Usage (from anywhere):
#   benchmarks/gpu_check.sh             # on a machine with CUDA
#   benchmarks/gpu_check.sh --dry-run   # CPU, tiny sizes, seconds (tests/test_gpu_check.py runs it)
# PYTHON=... picks the interpreter (default: the repository's .venv, else python3).
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

case "${1:-}" in
    --dry-run)
        # The CUDA tests of one file (they skip without a GPU) and the benchmark at toy sizes in one process.
        tests=(tests/test_deep.py)
        bench=(--device cpu --sizes 8 --batch 2 --actions 10 --depths 10 20 --repeats 1 --threads 1
               --in-process --bandwidth-mib 4)
        large=(--device cpu --nodes 400 --depth 5 --train-depth 5 --timeout 120)
        test_timeout=120 ;;
    "")
        "$PYTHON" -c 'import sys, torch
if not torch.cuda.is_available():
    sys.exit(f"gpu_check: CUDA is not available to torch {torch.__version__}; use --dry-run on a CPU machine")
print(f"== gpu_check: torch {torch.__version__}, {torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}")' \
            || exit 2
        tests=(tests)
        bench=(--device cuda --sizes 100 --batch 32 --actions 10 --depths 100 1000 5000 --repeats 3
               --max-gib 40 --timeout 150)
        large=(--device cuda --nodes 10000 100000 1000000 --depth 1000 --train-depth 1000 --timeout 240)
        test_timeout=240 ;;
    *)
        echo "usage: $0 [--dry-run]" >&2
        exit 2 ;;
esac

echo "== CUDA tests: pytest -m cuda ${tests[*]}"
timeout "$test_timeout" "$PYTHON" -m pytest -m cuda -q -p no:cacheprovider "${tests[@]}"
tests_status=$?
echo "== DT-VIN depth benchmark: bench_deep_vi.py ${bench[*]}"
OMP_NUM_THREADS=1 "$PYTHON" benchmarks/bench_deep_vi.py "${bench[@]}"
bench_status=$?
echo "== large graphs: bench_large_graphs.py ${large[*]}"
"$PYTHON" benchmarks/bench_large_graphs.py "${large[@]}"
large_status=$?
echo "== gpu_check: CUDA tests exit $tests_status, benchmark exit $bench_status, large graphs exit $large_status"
if (( tests_status != 0 )); then exit "$tests_status"; fi
if (( bench_status != 0 )); then exit "$bench_status"; fi
exit "$large_status"
