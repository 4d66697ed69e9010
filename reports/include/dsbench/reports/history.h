// `dsbench history DIR`: per-benchmark time series over many result files (ordered by
// started_at), with change points detected and marked, as a self-contained HTML trend page.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/results.h"

namespace dsbench::reports {

struct HistoryRun {
  std::string source, run_id, started_at, git_sha;
};

struct ChangePoint {
  size_t point = 0;      // index into the series' points where the new level starts
  double before = 0, after = 0, delta = 0;  // segment medians and (after - before) / |before|
  bool regression = false;  // honouring the benchmark's direction
};

struct Series {
  std::string key, suite, name;
  nlohmann::json params;
  std::string unit;
  Direction direction = Direction::kLower;
  std::vector<size_t> run;  // index into History::runs, one per point
  std::vector<double> median, p10, p90;
  std::vector<ChangePoint> changes;
};

struct History {
  std::vector<HistoryRun> runs;
  std::vector<Series> series;
  std::vector<std::string> warnings;  // files skipped, with the reason
  nlohmann::json to_json() const;
};

// Builds the series from (source, validated document) pairs, in any order.
History build_history(std::vector<std::pair<std::string, nlohmann::json>> docs,
                      double min_rel_step = 0.02);
// Every *.json below dir (recursively). Invalid files are skipped with a warning; UsageError when
// dir is not a folder or holds no valid result.
History load_history(const std::filesystem::path& dir, double min_rel_step = 0.02);
std::string render_history(const History& h);

}  // namespace dsbench::reports
