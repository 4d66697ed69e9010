#!/usr/bin/env bash
# One prepared check for a machine with an NVIDIA GPU, under 8 minutes: builds for the local GPU,
# runs the CUDA and trace tests, times MLA-absorbed decode at FlashMLA shapes (b=128, s_k 4K/16K,
# h_q 16/128, bf16), the MoE gate and the device engine's e2e decode and prefill, captures one
# trace, prints a table and writes everything under $OUT (default build-gpu/check).
# Usage: scripts/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${DSBENCH_GPU_BUILD:-build-gpu}
DEST=${OUT:-$BUILD/check}
JOBS=${DSBENCH_JOBS:-$(nproc)}
mkdir -p "$DEST"
start=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(($(date +%s) - start))"; }

step "device"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv |
    tee "$DEST/nvidia-smi.csv"
else
  echo "nvidia-smi not found; continuing (the CUDA runtime decides)"
fi

step "configure and build for the local GPU"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DDSBENCH_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=native -DDSBENCH_TESTS=ON >"$DEST/cmake.log"
cmake --build "$BUILD" -j "$JOBS" --target dsbench test_cuda test_trace >"$DEST/build.log" 2>&1 ||
  { tail -50 "$DEST/build.log"; exit 1; }
exe="$BUILD/dsbench"

step "CUDA and trace tests"
tests_ok=1
timeout 300 "$BUILD/tests/test_cuda" --gtest_output="json:$DEST/test_cuda.json" || tests_ok=0
timeout 120 "$BUILD/tests/trace/test_trace" --gtest_output="json:$DEST/test_trace.json" || tests_ok=0

step "MLA-absorbed decode, FlashMLA shapes"
# Keys are suite/name{params} with params in key order (see docs/cuda.md).
mla_filter='kv_cache/decode_attention/mla_absorbed\{"batch":128,.*"context":(4096|16384),.*"device":"cuda",.*"heads":(16|128),'
timeout 240 "$exe" run --suite kv_cache --device cuda --filter "$mla_filter" \
  --repetitions 5 --min-time 0.05 --quiet --out "$DEST/mla_absorbed.json" ||
  echo "MLA-absorbed run failed"

step "MoE gate on the GPU (DeepSeek-V3 routing), with a trace"
timeout 120 "$exe" run --suite moe_routing --model deepseek-v3 --device cuda \
  --filter 'router/gate\{.*"device":"cuda"' --repetitions 5 --min-time 0.05 --quiet \
  --trace "$DEST/gpu.trace.json" --out "$DEST/moe_gate.json" || echo "MoE gate run failed"

step "e2e decode batch on the GPU (device engine)"
# The device engine's decode steps (batch 1 and 4) and a 128-token prefill, dsv3-tiny, bf16.
timeout 180 "$exe" run --suite e2e --model dsv3-tiny --device cuda --quick \
  --filter 'e2e/(decode|prefill)\{.*"device":"cuda"' --quiet --out "$DEST/e2e_decode.json" ||
  echo "e2e decode run failed"

step "summary"
summary_py='
import json, sys, os
dest = sys.argv[1]
rows = []
peak = None
for f in ("mla_absorbed.json", "moe_gate.json", "e2e_decode.json"):
    p = os.path.join(dest, f)
    if not os.path.exists(p):
        continue
    doc = json.load(open(p))
    gpus = doc.get("host", {}).get("gpus", [])
    if gpus and "peak" in gpus[0]:
        peak = gpus[0]["peak"]
        gpu_name = gpus[0].get("name", "?")
    for s in doc["suites"]:
        for b in s["benchmarks"]:
            c = b.get("counters", {})
            rows.append({
                "suite": s["name"], "name": b["name"],
                "params": {k: v for k, v in b["params"].items()
                           if k in ("batch", "context", "heads", "tokens", "experts", "prompt")},
                "median_us": b["stats"].get("median", 0) * (1e6 if b.get("unit", "s") == "s" else 1)
                             if not b.get("skipped") else None,
                "unit": b.get("unit", "s"),
                "gbps": c.get("gbps"), "tflops": (c.get("gflops") or 0) / 1e3,
                "roofline_fraction": c.get("roofline_fraction"),
                "copy_fraction": (c.get("gbps") / peak["copy_gbps"]) if peak and c.get("gbps") else None,
                "skipped": b.get("skipped")})
if peak:
    print("GPU %s: copy %.0f GB/s (read+write), bf16 GEMM %.0f TFLOP/s"
          % (gpu_name, peak["copy_gbps"], peak["bf16_gflops"] / 1e3))
print("%-42s %-40s %10s %8s %8s %6s" % ("benchmark", "params", "median_us", "GB/s", "TFLOP/s", "copy%"))
for r in rows:
    if r["skipped"]:
        print("%-42s %-40s skipped: %s" % (r["suite"] + "/" + r["name"], json.dumps(r["params"]), r["skipped"]))
        continue
    if r["unit"] != "s":  # derived ratios (e2e/decode_speedup)
        print("%-42s %-40s %10.2f %s" % (r["suite"] + "/" + r["name"], json.dumps(r["params"]), r["median_us"], r["unit"]))
        continue
    print("%-42s %-40s %10.1f %8.0f %8.1f %6s" % (
        r["suite"] + "/" + r["name"], json.dumps(r["params"]), r["median_us"], r["gbps"] or 0,
        r["tflops"], "%.0f%%" % (100 * r["copy_fraction"]) if r["copy_fraction"] else "-"))
for r in rows:
    p = r["params"]
    if r["name"] == "decode_attention/mla_absorbed" and p.get("context") == 16384 and p.get("heads") == 16:
        ok = r["copy_fraction"] is not None and r["copy_fraction"] >= 0.6
        print("bar: MLA-absorbed b=128 s_k=16K h_q=16 at %s of copy bandwidth (>= 60%%): %s"
              % ("%.0f%%" % (100 * r["copy_fraction"]) if r["copy_fraction"] else "?", "PASS" if ok else "FAIL"))
json.dump({"peak": peak, "rows": rows}, open(os.path.join(dest, "gpu-check.json"), "w"), indent=1)
'
if command -v python3 >/dev/null; then
  python3 -c "$summary_py" "$DEST"
else
  echo "python3 not found: results are in $DEST/*.json"
fi
[ -s "$DEST/gpu.trace.json" ] && echo "trace: $DEST/gpu.trace.json (open in ui.perfetto.dev)"
echo "tests: $([ "$tests_ok" = 1 ] && echo passed || echo FAILED); total $(($(date +%s) - start)) s"
[ "$tests_ok" = 1 ]
