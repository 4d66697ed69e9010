// Comparing two result files: benchmarks matched by suite/name/params, median delta plus a
// Mann-Whitney test per benchmark, a direction-aware verdict, and the regression gate.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/results.h"

namespace dsbench::reports {

enum class Verdict { kImproved, kRegressed, kUnchanged, kInconclusive, kSkipped };
const char* to_string(Verdict v);

// Per-benchmark settings from an overrides file; the pattern is a glob (* and ?) matched against
// "suite/name" and against the full key "suite/name{params}". Later entries win.
struct Override {
  std::string pattern;
  std::optional<double> threshold, alpha;
  std::optional<bool> gate;
};

struct CompareOptions {
  double threshold = 0.05;  // relative change of the median that matters
  double alpha = 0.01;      // significance level of the Mann-Whitney test
  bool normalize_roofline = false;  // compare roofline_fraction (higher is better) instead
  bool strict = false;  // a gated benchmark missing from, or skipped in, the candidate fails too
  std::vector<Override> overrides;
};

// "5%" -> 0.05, "0.05" -> 0.05. UsageError naming `what` when it is not a number in [0, 10].
double parse_fraction(const std::string& text, const std::string& what);
// Overrides file: [{"match": "kv_cache/decode_*", "threshold": "10%", "alpha": 0.05,
// "gate": false}, ...] or {"kv_cache/decode_*": {"threshold": 0.1}, ...}.
std::vector<Override> load_overrides(const std::filesystem::path& path);

// The verdict on two raw sample sets, the core of compare (and of its statistics tests).
struct Judgement {
  Verdict verdict = Verdict::kInconclusive;
  double base_median = 0, cand_median = 0;
  double delta = 0;    // (cand - base) / |base|; +-inf when base is 0 and cand is not
  double p_value = 1;  // two-sided Mann-Whitney U
  std::string note;
};
Judgement judge_samples(const std::vector<double>& base, const std::vector<double>& cand,
                        Direction direction, double threshold, double alpha);

struct BenchmarkDelta {
  std::string key;  // suite/name{params}, plus [model/device] when that alone disambiguates
  std::string suite, name, model, device;
  nlohmann::json params;
  std::string unit, metric;  // metric: "median" or "roofline_fraction"
  Direction direction = Direction::kLower;
  long n_base = 0, n_cand = 0;
  double threshold = 0, alpha = 0;
  bool gated = true;
  Judgement result;
};

struct Comparison {
  std::string base_source, cand_source, base_run_id, cand_run_id;
  bool normalized = false;
  bool strict = false;
  std::vector<std::string> host_warnings;    // the machines or builds differ
  std::vector<std::string> method_warnings;  // same machine or not, measured differently
  std::vector<BenchmarkDelta> rows;          // matched benchmarks, in candidate order
  std::vector<std::string> missing, added;   // keys only in the baseline / only in the candidate
  std::vector<bool> missing_gated;           // parallel to `missing`

  int count(Verdict v) const;
  // The host and method warnings as the text, markdown and CLI views print them, without their
  // "warning: " lead: "hosts differ: ..." then "runs measured differently: ...".
  std::vector<std::string> warning_lines() const;
  // True when a gated benchmark regressed (or, under strict, went missing or was skipped).
  bool gate_failed() const;
  nlohmann::json to_json() const;
};

// base and cand must already be validated result documents; the sources name them in output.
Comparison compare_runs(const nlohmann::json& base, const nlohmann::json& cand,
                        const CompareOptions& opts, const std::string& base_source,
                        const std::string& cand_source);

std::string format_text(const Comparison& c);
std::string format_markdown(const Comparison& c);

// Shared by the text and HTML views: 0.0123 s -> "12.3 ms", 1.5e9 B -> "1.50 GB".
std::string format_value(double v, const std::string& unit);
// Host differences worth a warning (cpu, cores, GPUs, CUDA, compiler, build type).
std::vector<std::string> host_differences(const nlohmann::json& a, const nlohmann::json& b);
// Differences in how the two runs measured, on any hosts: the OpenBLAS kernel set (times) and the
// read peak's streams per thread (roofline fractions).
std::vector<std::string> method_differences(const nlohmann::json& a, const nlohmann::json& b);
// Glob with * and ?, used by overrides.
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace dsbench::reports
