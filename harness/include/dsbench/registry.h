// Benchmark registration: a suite is a factory that returns the benchmarks of one run, given the
// model, device and plan. Timed benchmarks run through Google Benchmark; measured ones (analytic
// figures, simulations) return samples directly. Both become BenchmarkRecords in the result.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "dsbench/config.h"
#include "dsbench/results.h"

namespace dsbench {

struct SuiteContext {
  const ModelConfig& model;
  std::string device;            // "cpu" or "cuda" (resolved; never "auto")
  bool cuda_available = false;   // a CUDA device is present and usable
  std::string cuda_reason;       // why not, when !cuda_available ("no CUDA device", ...)
  bool quick = false;            // short plan for tests and CI: seconds, not minutes
  uint64_t seed = 1234;
  const nlohmann::json& host;    // fingerprint, with "peak" (and "gpus"[i]["peak"])
  nlohmann::json options = nlohmann::json::object();  // suite options from the plan
};

// What a measured (non-timed) benchmark returns.
struct Measurement {
  std::vector<double> samples;
  nlohmann::json counters = nlohmann::json::object();
  nlohmann::json data;  // optional structured extras, kept in the result for reports
  // Non-empty: nothing to measure here (e.g. a derivation whose inputs this run did not measure);
  // recorded as skipped with this reason, never as a failure or a pass.
  std::string skipped;
};

struct Benchmark {
  std::string name;                                   // e.g. "decode_attention/mla_absorbed"
  nlohmann::json params = nlohmann::json::object();   // plain names: context, batch, heads, ...
  std::string unit = "s";
  Direction direction = Direction::kLower;

  // Work one iteration must do. The runner turns them into gbps, gflops and roofline_fraction
  // against the measured peaks of the device the benchmark ran on.
  double bytes = 0;
  double flops = 0;

  // Exactly one of timed / measure / derive is set.
  // timed: a Google Benchmark body (`for (auto _ : state) {...}`); one iteration = one operation.
  // It may add user counters (state.counters["x"]); they go to the record's counters.
  std::function<void(benchmark::State&)> timed;
  bool manual_time = false;  // the body calls state.SetIterationTime (CUDA events)
  std::string device;        // "cpu"/"cuda"; empty = the suite's device. Chooses the peak.
  // measure: computes samples directly (analytic figures, simulations, end-to-end runs).
  std::function<Measurement()> measure;
  // derive: computed from the records of this suite that ran before it in the same run (e.g. a
  // latency ratio of two timed kernels, sample by sample), so no second timing loop is needed.
  std::function<Measurement(const std::vector<BenchmarkRecord>& earlier)> derive;

  std::string skipped;        // non-empty: recorded as skipped with this reason, never run
  nlohmann::json counters = nlohmann::json::object();  // fixed extras known up front
  nlohmann::json data;        // structured extras for reports
};

// For derive functions. The earlier record named `name` that was not skipped and whose params
// hold every key of `match` with the same value; nullptr when there is none.
const BenchmarkRecord* find_earlier(const std::vector<BenchmarkRecord>& earlier, const std::string& name,
                                    const nlohmann::json& match);
// scale * num.samples[i] / den.samples[i], repetition by repetition (the shorter series bounds it).
std::vector<double> sample_ratios(const BenchmarkRecord& num, const BenchmarkRecord& den, double scale = 1.0);

using SuiteFactory = std::function<std::vector<Benchmark>(const SuiteContext&)>;

struct SuiteInfo {
  std::string name;
  std::string description;
  SuiteFactory make;
};

void register_suite(SuiteInfo info);
const std::vector<SuiteInfo>& registered_suites();
// nullptr when unknown.
const SuiteInfo* find_suite(const std::string& name);

}  // namespace dsbench

#define DSBENCH_CONCAT_INNER(a, b) a##b
#define DSBENCH_CONCAT(a, b) DSBENCH_CONCAT_INNER(a, b)
// Registers a suite at static-initialisation time: DSBENCH_REGISTER_SUITE({"kv_cache", "...", make});
#define DSBENCH_REGISTER_SUITE(...)                                        \
  static const bool DSBENCH_CONCAT(dsbench_suite_registered_, __LINE__) = \
      (::dsbench::register_suite(::dsbench::SuiteInfo __VA_ARGS__), true)
