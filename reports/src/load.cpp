// Report-side checks on result files, on top of the core schema validation: the views index
// counters, stats and trace tables directly, so a wrong type there must be a named error.
#include "dsbench/reports/load.h"

#include <string>

#include "dsbench/error.h"
#include "dsbench/results.h"

namespace dsbench::reports {
using nlohmann::json;

namespace {
[[noreturn]] void fail(const std::string& source, const std::string& field, const std::string& what) {
  throw UsageError(source + ": " + field + ": " + what);
}

void check_numbers(const json& obj, const std::string& source, const std::string& path) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!it->is_number() && !it->is_null()) {
      fail(source, path + "." + it.key(), std::string("expected a number, got ") + it->type_name());
    }
  }
}

void optional_string(const json& obj, const char* key, const std::string& source,
                     const std::string& path) {
  auto it = obj.find(key);
  if (it != obj.end() && !it->is_string() && !it->is_null()) {
    fail(source, path.empty() ? key : path + "." + key, "expected a string");
  }
}
}  // namespace

void check_report_fields(const json& doc, const std::string& source) {
  for (const char* k : {"started_at", "finished_at", "command"}) optional_string(doc, k, source, "");
  const json& suites = doc.at("suites");
  for (size_t i = 0; i < suites.size(); ++i) {
    std::string sp = "suites[" + std::to_string(i) + "]";
    optional_string(suites[i], "model", source, sp);
    optional_string(suites[i], "device", source, sp);
    const json& benches = suites[i].at("benchmarks");
    for (size_t k = 0; k < benches.size(); ++k) {
      std::string bp = sp + ".benchmarks[" + std::to_string(k) + "]";
      check_numbers(benches[k].at("stats"), source, bp + ".stats");
      check_numbers(benches[k].at("counters"), source, bp + ".counters");
    }
  }
  if (doc.contains("traces")) {
    const json& traces = doc.at("traces");
    for (size_t i = 0; i < traces.size(); ++i) {
      std::string tp = "traces[" + std::to_string(i) + "]";
      if (!traces[i].is_object()) fail(source, tp, "expected an object");
      if (!traces[i].contains("kernels")) continue;
      const json& kernels = traces[i].at("kernels");
      if (!kernels.is_array()) fail(source, tp + ".kernels", "expected an array");
      for (size_t k = 0; k < kernels.size(); ++k) {
        std::string kp = tp + ".kernels[" + std::to_string(k) + "]";
        if (!kernels[k].is_object()) fail(source, kp, "expected an object");
        if (!kernels[k].contains("name") || !kernels[k].at("name").is_string()) {
          fail(source, kp + ".name", "expected a string");
        }
        for (const char* f : {"count", "total_ns", "mean_ns"}) {
          auto it = kernels[k].find(f);
          if (it != kernels[k].end() && !it->is_number()) {
            fail(source, kp + "." + f, std::string("expected a number, got ") + it->type_name());
          }
        }
      }
    }
  }
}

json load_run(const std::filesystem::path& path) {
  json doc = load_result_file(path);
  check_report_fields(doc, path.string());
  return doc;
}

}  // namespace dsbench::reports
