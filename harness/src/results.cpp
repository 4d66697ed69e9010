// The result schema dsbench.result/1: serialisation, validation and atomic writes.
#include "dsbench/results.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>

#include "dsbench/config.h"
#include "dsbench/error.h"

namespace dsbench {
namespace fs = std::filesystem;
using nlohmann::json;

const char* to_string(Direction d) { return d == Direction::kLower ? "lower" : "higher"; }

namespace {
// JSON has no NaN/Inf; a non-finite figure is written as null rather than corrupting the file.
json number_or_null(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

json sanitise_counters(const json& c) {
  json out = json::object();
  for (auto it = c.begin(); it != c.end(); ++it) {
    if (it->is_number_float()) out[it.key()] = number_or_null(it->get<double>());
    else out[it.key()] = *it;
  }
  return out;
}
}  // namespace

json BenchmarkRecord::to_json() const {
  json samples_json = json::array();
  for (double s : samples) samples_json.push_back(number_or_null(s));
  json stats_json = dsbench::to_json(stats);
  for (auto& [k, v] : stats_json.items()) {
    if (v.is_number_float()) v = number_or_null(v.get<double>());
  }
  json j = {{"name", name},
            {"params", params.is_null() ? json::object() : params},
            {"unit", unit},
            {"direction", dsbench::to_string(direction)},
            {"samples", samples_json},
            {"stats", stats_json},
            {"counters", sanitise_counters(counters)},
            {"skipped", skipped ? json(*skipped) : json(nullptr)}};
  if (!data.is_null()) j["data"] = data;
  return j;
}

json SuiteRecord::to_json() const {
  json b = json::array();
  for (const auto& r : benchmarks) b.push_back(r.to_json());
  return {{"name", name}, {"model", model}, {"device", device}, {"benchmarks", b}};
}

json RunRecord::to_json() const {
  json s = json::array();
  for (const auto& r : suites) s.push_back(r.to_json());
  return {{"schema", kResultSchema}, {"run_id", run_id},     {"started_at", started_at},
          {"finished_at", finished_at}, {"command", command}, {"host", host},
          {"suites", s},                {"traces", traces}};
}

std::string benchmark_key(const std::string& suite, const std::string& name, const json& params) {
  // nlohmann::json objects are ordered by key, so dump() is canonical.
  return suite + "/" + name + (params.is_object() && !params.empty() ? params.dump() : "");
}

void write_text_atomic(const fs::path& path, const std::string& text) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(tmp.string() + ": cannot open for writing");
    out << text;
    out.flush();
    if (!out) throw Error(tmp.string() + ": write failed");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp);
    throw Error(path.string() + ": cannot rename into place: " + ec.message());
  }
}

void write_json_atomic(const fs::path& path, const json& doc, int indent) {
  write_text_atomic(path, doc.dump(indent, ' ', false, json::error_handler_t::replace) + "\n");
}

PartialLog::PartialLog(const fs::path& result_path) {
  path_ = result_path;
  path_ += ".partial.jsonl";
  if (path_.has_parent_path()) fs::create_directories(path_.parent_path());
  file_ = std::fopen(path_.c_str(), "w");
  if (!file_) throw Error(path_.string() + ": cannot open the partial result log");
}

PartialLog::~PartialLog() {
  if (file_) std::fclose(file_);
}

void PartialLog::append(const std::string& suite, const BenchmarkRecord& rec) {
  if (!file_) return;
  json line = {{"suite", suite}, {"benchmark", rec.to_json()}};
  std::string s = line.dump(-1, ' ', false, json::error_handler_t::replace);
  std::fputs(s.c_str(), file_);
  std::fputc('\n', file_);
  std::fflush(file_);
}

void PartialLog::finish() {
  if (file_) std::fclose(file_);
  file_ = nullptr;
  std::error_code ec;
  fs::remove(path_, ec);
}

namespace {

class Validator {
 public:
  explicit Validator(std::string source) : source_(std::move(source)) {}
  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw UsageError(source_ + ": " + field + ": " + what);
  }
  const json& field(const json& obj, const std::string& path, const char* key) const {
    auto it = obj.find(key);
    if (it == obj.end()) fail(join(path, key), "missing");
    return *it;
  }
  const json& object(const json& obj, const std::string& path, const char* key) const {
    const json& v = field(obj, path, key);
    if (!v.is_object()) fail(join(path, key), std::string("expected an object, got ") + v.type_name());
    return v;
  }
  const json& array(const json& obj, const std::string& path, const char* key) const {
    const json& v = field(obj, path, key);
    if (!v.is_array()) fail(join(path, key), std::string("expected an array, got ") + v.type_name());
    return v;
  }
  const json& string(const json& obj, const std::string& path, const char* key) const {
    const json& v = field(obj, path, key);
    if (!v.is_string()) fail(join(path, key), std::string("expected a string, got ") + v.type_name());
    return v;
  }
  static std::string join(const std::string& path, const char* key) {
    return path.empty() ? key : path + "." + key;
  }

 private:
  std::string source_;
};

}  // namespace

void validate_result(const json& doc, const std::string& source) {
  Validator v(source);
  if (!doc.is_object()) v.fail("(document)", "expected a JSON object");
  const json& schema = v.string(doc, "", "schema");
  if (schema != kResultSchema) {
    v.fail("schema", "expected \"" + std::string(kResultSchema) + "\", got " + schema.dump());
  }
  v.string(doc, "", "run_id");
  v.object(doc, "", "host");
  const json& suites = v.array(doc, "", "suites");
  for (size_t i = 0; i < suites.size(); ++i) {
    std::string sp = "suites[" + std::to_string(i) + "]";
    const json& s = suites[i];
    if (!s.is_object()) v.fail(sp, "expected an object");
    v.string(s, sp, "name");
    const json& benches = v.array(s, sp, "benchmarks");
    for (size_t k = 0; k < benches.size(); ++k) {
      std::string bp = sp + ".benchmarks[" + std::to_string(k) + "]";
      const json& b = benches[k];
      if (!b.is_object()) v.fail(bp, "expected an object");
      v.string(b, bp, "name");
      v.object(b, bp, "params");
      v.string(b, bp, "unit");
      const json& dir = v.string(b, bp, "direction");
      if (dir != "lower" && dir != "higher") {
        v.fail(bp + ".direction", "expected \"lower\" or \"higher\", got " + dir.dump());
      }
      const json& samples = v.array(b, bp, "samples");
      for (const auto& x : samples) {
        if (!x.is_number() && !x.is_null()) {
          v.fail(bp + ".samples", "expected an array of numbers");
        }
      }
      v.object(b, bp, "stats");
      v.object(b, bp, "counters");
      const json& skipped = v.field(b, bp, "skipped");
      if (!skipped.is_null() && !skipped.is_string()) {
        v.fail(bp + ".skipped", "expected null or a reason string");
      }
    }
  }
  if (doc.contains("traces") && !doc.at("traces").is_array()) {
    v.fail("traces", "expected an array");
  }
}

json load_result_file(const fs::path& path) {
  json doc = read_json_file(path);
  validate_result(doc, path.string());
  return doc;
}

std::string utc_now_iso8601() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace dsbench
