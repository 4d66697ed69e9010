// Runs a plan: suites x models, through Google Benchmark for timed benchmarks, into one RunRecord
// written atomically (with a partial JSONL log while it runs).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/host.h"
#include "dsbench/results.h"

namespace dsbench {

struct SuitePlan {
  std::string suite;
  std::string model = "dsv3-tiny";
  nlohmann::json options = nlohmann::json::object();
};

struct RunOptions {
  std::vector<SuitePlan> suites;
  int repetitions = 5;
  double min_time = 0.05;  // seconds per repetition (Google Benchmark --benchmark_min_time)
  // Noise-based stopping for timed benchmarks (as nvbench's --max-noise): after `repetitions`,
  // keep adding repetitions until Stats::noise (the relative half-width of the median's 95%
  // interval) is at most max_noise, or max_time seconds have gone into the benchmark. 0: off.
  double max_noise = 0;
  double max_time = 20;
  // Throttle detection for CPU benchmarks (as nvbench's --throttle-threshold for GPU clocks). A
  // short probe (probe_speed: a register FMA loop and a cache-fed one) runs before and after each
  // repetition; the slowest of the readings, each over the best rate its loop has shown (the FMA
  // peak at least), is that repetition's host speed. A repetition below throttle_threshold is set
  // aside and retaken after throttle_recovery seconds, at most `repetitions` retakes per benchmark.
  // When every repetition ran throttled they are kept as the samples and the record is flagged
  // (counters.throttled = 1). 0: off. Needs the host peaks.
  double throttle_threshold = 0.75;
  double throttle_recovery = 0.05;
  // The probe; empty: probe_speed. Tests script it.
  std::function<SpeedReading()> speed_probe;
  // With measure_peaks, the read bandwidth is measured again after the last benchmark, and after
  // a CPU benchmark with a roofline fraction once read_probe_interval_s has passed since the last
  // reading (0: after each one; negative: only at the end). When the best reading is higher than
  // at the start, it becomes host.peak.read_gbps and the CPU roofline fractions are redone against
  // it (as for the FMA peak). Empty: measure_read_bandwidth. Tests script it.
  std::function<double()> read_probe;
  double read_probe_interval_s = 60;
  std::string filter;      // ECMAScript regex over "suite/name{params}"; empty = all
  std::string device = "auto";  // cpu | cuda | auto
  // Filled by the caller (the CLI asks kernels/ whether a device is usable; the harness core sits
  // below kernels and does not).
  bool cuda_available = false;
  std::string cuda_reason = "built without CUDA";
  bool quick = false;
  uint64_t seed = 1234;
  bool quiet = false;
  bool measure_peaks = true;
  std::filesystem::path out = "results/latest.json";
  std::filesystem::path trace;  // empty: no trace
  std::string command;          // the command line, for the record
};

// Loads a plan file: {"repetitions":N, "min_time":S, "max_noise":F, "max_time":S,
// "throttle_threshold":F, "throttle_recovery":S, "quick":bool,
// "suites":[{"suite":"kv_cache","model":"dsv3-tiny","options":{...}}]}. Fields given in `opts`
// by the command line win over the plan's. UsageError naming the file and field.
void apply_plan_file(const std::filesystem::path& plan, RunOptions& opts);

// Runs everything; returns the record it wrote to opts.out. Suites and models are validated
// before anything is measured (UsageError). A benchmark that throws is recorded with
// skipped = "failed: ..." and counted in `failures`; the run goes on.
struct RunOutcome {
  RunRecord record;
  int failures = 0;
  int skipped = 0;
  int measured = 0;
};
RunOutcome run_plan(const RunOptions& opts);

// "cpu" or "cuda" for a requested device; UsageError when "cuda" is asked for and unbuilt.
std::string resolve_device(const std::string& requested, bool cuda_available);

}  // namespace dsbench
