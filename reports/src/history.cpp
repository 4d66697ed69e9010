// Nightly history: series per benchmark across result files, change points per series.
#include "dsbench/reports/history.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "dsbench/error.h"
#include "dsbench/reports/change_points.h"
#include "dsbench/reports/html.h"
#include "dsbench/reports/load.h"

namespace dsbench::reports {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
json number_or_null(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

std::string str_field(const json& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}
}  // namespace

History build_history(std::vector<std::pair<std::string, json>> docs, double min_rel_step) {
  std::stable_sort(docs.begin(), docs.end(), [](const auto& a, const auto& b) {
    std::string sa = str_field(a.second, "started_at"), sb = str_field(b.second, "started_at");
    return sa != sb ? sa < sb : a.first < b.first;  // ISO-8601 UTC sorts as text
  });
  History h;
  std::map<std::string, size_t> index;
  for (size_t r = 0; r < docs.size(); ++r) {
    const json& doc = docs[r].second;
    HistoryRun run{docs[r].first, str_field(doc, "run_id"), str_field(doc, "started_at"),
                   doc.at("host").is_object() ? str_field(doc.at("host"), "git_sha") : ""};
    h.runs.push_back(run);
    for (const auto& s : doc.at("suites")) {
      std::string suite = str_field(s, "name");
      std::string model = str_field(s, "model"), device = str_field(s, "device");
      for (const auto& b : s.at("benchmarks")) {
        if (!b.at("skipped").is_null()) continue;
        std::vector<double> samples;
        for (const auto& x : b.at("samples")) {
          if (x.is_number() && std::isfinite(x.get<double>())) samples.push_back(x.get<double>());
        }
        if (samples.empty()) continue;
        std::string key = benchmark_key(suite, b.at("name").get<std::string>(), b.at("params"));
        // Model and device change what is measured, so they split series.
        if (!model.empty() || !device.empty()) key += " [" + model + "/" + device + "]";
        auto [it, fresh] = index.emplace(key, h.series.size());
        if (fresh) {
          Series ser;
          ser.key = key;
          ser.suite = suite;
          ser.name = b.at("name").get<std::string>();
          ser.params = b.at("params");
          ser.unit = b.at("unit").get<std::string>();
          ser.direction = b.at("direction") == "higher" ? Direction::kHigher : Direction::kLower;
          h.series.push_back(std::move(ser));
        }
        Series& ser = h.series[it->second];
        if (!ser.run.empty() && ser.run.back() == r) continue;  // duplicate within one run
        ser.run.push_back(r);
        ser.median.push_back(percentile(samples, 50));
        ser.p10.push_back(percentile(samples, 10));
        ser.p90.push_back(percentile(samples, 90));
      }
    }
  }
  for (auto& ser : h.series) {
    auto cps = detect_change_points(ser.median, min_rel_step);
    size_t n = ser.median.size();
    for (size_t k = 0; k < cps.size(); ++k) {
      size_t b0 = k == 0 ? 0 : cps[k - 1], b1 = cps[k], e = k + 1 < cps.size() ? cps[k + 1] : n;
      ChangePoint cp;
      cp.point = b1;
      cp.before = percentile(std::vector<double>(ser.median.begin() + long(b0),
                                                 ser.median.begin() + long(b1)), 50);
      cp.after = percentile(std::vector<double>(ser.median.begin() + long(b1),
                                                ser.median.begin() + long(e)), 50);
      cp.delta = cp.before != 0 ? (cp.after - cp.before) / std::fabs(cp.before) : 0;
      cp.regression = ser.direction == Direction::kLower ? cp.after > cp.before
                                                          : cp.after < cp.before;
      ser.changes.push_back(cp);
    }
  }
  return h;
}

History load_history(const fs::path& dir, double min_rel_step) {
  if (!fs::is_directory(dir)) throw UsageError(dir.string() + ": not a folder of result files");
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::pair<std::string, json>> docs;
  std::vector<std::string> warnings;
  for (const auto& f : files) {
    try {
      docs.emplace_back(f.string(), load_run(f));
    } catch (const UsageError& e) {
      // One truncated nightly must not hide a year of others; it is listed on the page.
      warnings.push_back(std::string("skipped ") + e.what());
    }
  }
  if (docs.empty()) {
    std::string why = warnings.empty() ? "no *.json files" : warnings.front();
    throw UsageError(dir.string() + ": no valid result files (" + why + ")");
  }
  History h = build_history(std::move(docs), min_rel_step);
  h.warnings = std::move(warnings);
  return h;
}

json History::to_json() const {
  json runs_json = json::array();
  for (const auto& r : runs) {
    runs_json.push_back({{"source", r.source}, {"run_id", r.run_id}, {"started_at", r.started_at},
                         {"git_sha", r.git_sha}});
  }
  json series_json = json::array();
  for (const auto& s : series) {
    json changes = json::array();
    for (const auto& c : s.changes) {
      changes.push_back({{"point", c.point}, {"run", s.run[c.point]},
                         {"before", number_or_null(c.before)}, {"after", number_or_null(c.after)},
                         {"delta", number_or_null(c.delta)}, {"regression", c.regression}});
    }
    json med = json::array(), p10 = json::array(), p90 = json::array();
    for (size_t i = 0; i < s.median.size(); ++i) {
      med.push_back(number_or_null(s.median[i]));
      p10.push_back(number_or_null(s.p10[i]));
      p90.push_back(number_or_null(s.p90[i]));
    }
    series_json.push_back({{"key", s.key}, {"suite", s.suite}, {"name", s.name},
                           {"params", s.params}, {"unit", s.unit},
                           {"direction", dsbench::to_string(s.direction)}, {"run", s.run},
                           {"median", med}, {"p10", p10}, {"p90", p90}, {"changes", changes}});
  }
  return {{"kind", "trend"},
          {"generated_at", utc_now_iso8601()},
          {"runs", runs_json},
          {"series", series_json},
          {"warnings", warnings}};
}

std::string render_history(const History& h) {
  return render_page("dsbench trend (" + std::to_string(h.runs.size()) + " runs)", h.to_json());
}

}  // namespace dsbench::reports
