// The result schema dsbench.result/1 (reports/SCHEMA.md): in-memory records, validation on load,
// and the only code that writes result files (atomically, plus a partial JSONL log).
#pragma once

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/stats.h"

namespace dsbench {

inline constexpr const char* kResultSchema = "dsbench.result/1";

enum class Direction { kLower, kHigher };
const char* to_string(Direction d);

// One entry of suites[].benchmarks. Identity: suite name + name + params.
struct BenchmarkRecord {
  std::string name;
  nlohmann::json params = nlohmann::json::object();
  std::string unit = "s";
  Direction direction = Direction::kLower;
  std::vector<double> samples;  // raw, one per repetition; always kept (compare needs them)
  Stats stats;                  // over samples
  nlohmann::json counters = nlohmann::json::object();  // numbers: bytes, flops, gbps, ...
  std::optional<std::string> skipped;                  // reason; a skipped benchmark has no samples
  nlohmann::json data;  // optional structured extras for reports (series, per-layer tables)

  nlohmann::json to_json() const;
};

struct SuiteRecord {
  std::string name, model, device;
  std::vector<BenchmarkRecord> benchmarks;
  nlohmann::json to_json() const;
};

struct RunRecord {
  std::string run_id, started_at, finished_at, command;
  nlohmann::json host = nlohmann::json::object();
  std::vector<SuiteRecord> suites;
  nlohmann::json traces = nlohmann::json::array();
  nlohmann::json to_json() const;
};

// Stable key "suite/name{params}" used to match benchmarks across runs.
std::string benchmark_key(const std::string& suite, const std::string& name,
                          const nlohmann::json& params);

// Writes JSON to `path` via a temporary file in the same folder and a rename, so a crash never
// leaves a half-written file. Creates parent folders.
void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& doc, int indent = 1);
// Same for any text (HTML reports, traces).
void write_text_atomic(const std::filesystem::path& path, const std::string& text);

// Appends one JSON line per finished benchmark to RUN.json.partial.jsonl, flushed each time.
class PartialLog {
 public:
  explicit PartialLog(const std::filesystem::path& result_path);
  ~PartialLog();
  PartialLog(const PartialLog&) = delete;
  PartialLog& operator=(const PartialLog&) = delete;
  void append(const std::string& suite, const BenchmarkRecord& rec);
  // Removes the log once the full result has been written.
  void finish();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

// Reads and validates a result file. Throws UsageError naming the file and the field
// (e.g. "run.json: suites[0].benchmarks[3].samples: expected an array of numbers").
nlohmann::json load_result_file(const std::filesystem::path& path);
// Validates an already-parsed document; `source` names it in messages.
void validate_result(const nlohmann::json& doc, const std::string& source);

// ISO-8601 UTC timestamp, e.g. 2026-11-28T12:53:52Z.
std::string utc_now_iso8601();

}  // namespace dsbench
