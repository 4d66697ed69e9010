// compare: match benchmarks of two runs, judge each (median delta + Mann-Whitney U), and decide
// the gate. Verdicts honour each benchmark's direction (higher tokens/s is an improvement).
#include "dsbench/reports/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "dsbench/config.h"
#include "dsbench/error.h"
#include "dsbench/reports/mann_whitney.h"
#include "dsbench/stats.h"

namespace dsbench::reports {
namespace fs = std::filesystem;
using nlohmann::json;

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::kImproved: return "improved";
    case Verdict::kRegressed: return "regressed";
    case Verdict::kUnchanged: return "unchanged";
    case Verdict::kInconclusive: return "inconclusive";
    case Verdict::kSkipped: return "skipped";
  }
  return "?";
}

bool glob_match(const std::string& p, const std::string& t) {
  // Iterative matcher with single-star backtracking: linear in practice, no recursion blow-up.
  size_t pi = 0, ti = 0, star = std::string::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi, ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

double parse_fraction(const std::string& text, const std::string& what) {
  std::string s = text;
  bool percent = !s.empty() && s.back() == '%';
  if (percent) s.pop_back();
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || !std::isfinite(v)) {
    throw UsageError(what + ": expected a number such as 5% or 0.05, got \"" + text + "\"");
  }
  if (percent) v /= 100.0;
  if (v < 0 || v > 10) throw UsageError(what + ": out of range [0, 10]: \"" + text + "\"");
  return v;
}

namespace {

double fraction_field(const json& v, const std::string& what) {
  if (v.is_number()) return parse_fraction(v.dump(), what);
  if (v.is_string()) return parse_fraction(v.get<std::string>(), what);
  throw UsageError(what + ": expected a number or a string such as \"10%\"");
}

Override parse_override(const json& o, const std::string& pattern, const std::string& where) {
  if (!o.is_object()) throw UsageError(where + ": expected an object");
  Override ov;
  ov.pattern = pattern;
  for (auto it = o.begin(); it != o.end(); ++it) {
    const std::string& k = it.key();
    if (k == "match") continue;
    if (k == "threshold") ov.threshold = fraction_field(*it, where + ".threshold");
    else if (k == "alpha") ov.alpha = fraction_field(*it, where + ".alpha");
    else if (k == "gate") {
      if (!it->is_boolean()) throw UsageError(where + ".gate: expected true or false");
      ov.gate = it->get<bool>();
    } else {
      throw UsageError(where + "." + k + ": unknown field (threshold, alpha, gate)");
    }
  }
  return ov;
}

std::vector<double> finite_samples(const json& bench) {
  std::vector<double> out;
  auto it = bench.find("samples");
  if (it == bench.end() || !it->is_array()) return out;
  for (const auto& x : *it) {
    if (x.is_number() && std::isfinite(x.get<double>())) out.push_back(x.get<double>());
  }
  return out;
}

double median_of(std::vector<double> v) { return percentile(std::move(v), 50); }

// One benchmark of a run with where it came from.
struct Entry {
  std::string suite, model, device, key;
  const json* bench = nullptr;
};

std::string str_field(const json& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<Entry> entries_of(const json& run) {
  std::vector<Entry> out;
  for (const auto& s : run.at("suites")) {
    for (const auto& b : s.at("benchmarks")) {
      Entry e;
      e.suite = str_field(s, "name");
      e.model = str_field(s, "model");
      e.device = str_field(s, "device");
      e.key = benchmark_key(e.suite, b.at("name").get<std::string>(), b.at("params"));
      e.bench = &b;
      out.push_back(e);
    }
  }
  // The same suite on two models or devices yields equal keys: only then say which is which.
  std::map<std::string, int> seen;
  for (const auto& e : out) ++seen[e.key];
  for (auto& e : out) {
    if (seen[e.key] > 1) e.key += " [" + e.model + "/" + e.device + "]";
  }
  return out;
}

// Per-sample roofline fraction: time samples scale inversely with the achieved fraction.
std::optional<std::vector<double>> roofline_samples(const json& bench) {
  const json& c = bench.at("counters");
  auto it = c.find("roofline_fraction");
  if (it == c.end() || !it->is_number() || bench.value("unit", "") != "s") return std::nullopt;
  double rf = it->get<double>();
  auto samples = finite_samples(bench);
  if (!(rf > 0) || samples.empty()) return std::nullopt;
  double ideal = rf * median_of(samples);
  std::vector<double> out;
  for (double s : samples) {
    if (s > 0) out.push_back(ideal / s);
  }
  return out;
}

}  // namespace

std::vector<Override> load_overrides(const fs::path& path) {
  json doc = read_json_file(path);
  std::vector<Override> out;
  const std::string src = path.string();
  if (doc.is_array()) {
    for (size_t i = 0; i < doc.size(); ++i) {
      std::string where = src + ": [" + std::to_string(i) + "]";
      if (!doc[i].is_object() || !doc[i].contains("match") || !doc[i]["match"].is_string()) {
        throw UsageError(where + ".match: expected a glob string");
      }
      out.push_back(parse_override(doc[i], doc[i]["match"].get<std::string>(), where));
    }
  } else if (doc.is_object()) {
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      out.push_back(parse_override(*it, it.key(), src + ": " + it.key()));
    }
  } else {
    throw UsageError(src + ": expected an array of {\"match\": ...} objects or an object");
  }
  return out;
}

Judgement judge_samples(const std::vector<double>& base, const std::vector<double>& cand,
                        Direction direction, double threshold, double alpha) {
  Judgement j;
  if (base.empty() || cand.empty()) {
    j.note = base.empty() ? "no samples in the baseline" : "no samples in the candidate";
    return j;
  }
  // One sort per side for the medians, the extremes and the medians' intervals below.
  const Stats sb = compute_stats(base), sc = compute_stats(cand);
  j.base_median = sb.median;
  j.cand_median = sc.median;
  double diff = j.cand_median - j.base_median;
  if (j.base_median != 0) j.delta = diff / std::fabs(j.base_median);
  else j.delta = diff == 0 ? 0.0 : std::copysign(INFINITY, diff);

  bool deterministic = sb.min == sb.max && sc.min == sc.max;
  if (deterministic) {
    // Analytic figures (bytes per token, simulated loads) have no noise: any change is real.
    j.p_value = diff == 0 ? 1.0 : 0.0;
    j.note = "deterministic";
  } else {
    j.p_value = mann_whitney_u(base, cand).p_value;
  }
  if (std::fabs(j.delta) <= threshold) {
    j.verdict = Verdict::kUnchanged;
    // "Unchanged" is weak evidence when a median is only known to more than the threshold (its
    // 95% interval; with under 6 samples there is none, and nothing is said).
    if (!deterministic) {
      const double noise = std::max(has_median_ci(sb) ? sb.noise : 0.0, has_median_ci(sc) ? sc.noise : 0.0);
      if (noise > threshold) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "noisy: a median is only known to +-%.1f%%", 100 * noise);
        j.note = buf;
      }
    }
    return j;
  }
  if (j.p_value >= alpha) {
    j.verdict = Verdict::kInconclusive;
    if (j.note.empty()) j.note = "change not significant";
    return j;
  }
  bool worse = direction == Direction::kLower ? diff > 0 : diff < 0;
  j.verdict = worse ? Verdict::kRegressed : Verdict::kImproved;
  return j;
}

std::vector<std::string> Comparison::warning_lines() const {
  std::vector<std::string> out;
  for (const auto& w : host_warnings) out.push_back("hosts differ: " + w);
  for (const auto& w : method_warnings) out.push_back("runs measured differently: " + w);
  return out;
}

int Comparison::count(Verdict v) const {
  return int(std::count_if(rows.begin(), rows.end(),
                           [v](const BenchmarkDelta& r) { return r.result.verdict == v; }));
}

bool Comparison::gate_failed() const {
  for (const auto& r : rows) {
    if (!r.gated) continue;
    if (r.result.verdict == Verdict::kRegressed) return true;
    if (strict && r.result.verdict == Verdict::kSkipped) return true;
  }
  if (strict) {
    for (bool g : missing_gated) {
      if (g) return true;
    }
  }
  return false;
}

std::vector<std::string> host_differences(const json& a, const json& b) {
  std::vector<std::string> out;
  auto field = [&](const char* k) {
    json va = a.is_object() && a.contains(k) ? a.at(k) : json();
    json vb = b.is_object() && b.contains(k) ? b.at(k) : json();
    if (va != vb) out.push_back(std::string("host.") + k + ": " + va.dump() + " vs " + vb.dump());
  };
  for (const char* k : {"cpu", "cores", "cuda", "compiler", "build_type"}) field(k);
  auto gpu_names = [](const json& h) {
    json names = json::array();
    if (h.is_object() && h.contains("gpus") && h.at("gpus").is_array()) {
      for (const auto& g : h.at("gpus")) {
        names.push_back(g.is_object() && g.contains("name") ? g.at("name") : json());
      }
    }
    return names;
  };
  json ga = gpu_names(a), gb = gpu_names(b);
  if (ga != gb) out.push_back("host.gpus[].name: " + ga.dump() + " vs " + gb.dump());
  return out;
}

std::vector<std::string> method_differences(const json& a, const json& b) {
  std::vector<std::string> out;
  // The value at `path` in a host object; null where the path does not resolve.
  auto at = [](const json& h, const char* path) {
    const json::json_pointer p(path);
    return h.contains(p) ? h.at(p) : json();
  };
  // The BLAS kernel set (prefill's sgemm differs by up to 6x between OpenBLAS cores on one CPU);
  // only when both runs recorded it.
  const json ca = at(a, "/blas/core"), cb = at(b, "/blas/core");
  if (!ca.is_null() && !cb.is_null() && ca != cb)
    out.push_back("host.blas.core: " + ca.dump() + " vs " + cb.dump() +
                  " (the CPU GEMMs' kernel set; times can differ on the same CPU)");
  // How the read peak was measured (memory-bound roofline fractions depend on it): only when
  // both runs measured one. Before the field existed the peak was one stream per thread.
  auto read_streams = [](const json& h) {
    if (!h.contains(json::json_pointer("/peak/read_gbps"))) return json();
    const json::json_pointer s("/peak/read_streams");
    return h.contains(s) ? h.at(s) : json::array({1});
  };
  const json ra = read_streams(a), rb = read_streams(b);
  if (!ra.is_null() && !rb.is_null() && ra != rb)
    out.push_back("host.peak.read_streams: " + ra.dump() + " vs " + rb.dump() +
                  " (streams per thread behind the read peak; memory-bound roofline fractions are "
                  "not comparable)");
  return out;
}

Comparison compare_runs(const json& base, const json& cand, const CompareOptions& opts,
                        const std::string& base_source, const std::string& cand_source) {
  Comparison c;
  c.base_source = base_source;
  c.cand_source = cand_source;
  c.base_run_id = str_field(base, "run_id");
  c.cand_run_id = str_field(cand, "run_id");
  c.normalized = opts.normalize_roofline;
  c.strict = opts.strict;
  c.host_warnings = host_differences(base.at("host"), cand.at("host"));
  c.method_warnings = method_differences(base.at("host"), cand.at("host"));

  auto settings = [&](const std::string& suite, const std::string& name, const std::string& key,
                      double& threshold, double& alpha, bool& gated) {
    threshold = opts.threshold;
    alpha = opts.alpha;
    gated = true;
    for (const auto& o : opts.overrides) {
      if (!glob_match(o.pattern, suite + "/" + name) && !glob_match(o.pattern, key)) continue;
      if (o.threshold) threshold = *o.threshold;
      if (o.alpha) alpha = *o.alpha;
      if (o.gate) gated = *o.gate;
    }
  };

  auto base_entries = entries_of(base);
  auto cand_entries = entries_of(cand);
  std::map<std::string, const Entry*> base_by_key;
  for (const auto& e : base_entries) base_by_key.emplace(e.key, &e);
  std::set<std::string> matched;

  for (const auto& ce : cand_entries) {
    auto it = base_by_key.find(ce.key);
    if (it == base_by_key.end()) {
      c.added.push_back(ce.key);
      continue;
    }
    matched.insert(ce.key);
    const json& bb = *it->second->bench;
    const json& cb = *ce.bench;
    BenchmarkDelta d;
    d.key = ce.key;
    d.suite = ce.suite;
    d.model = ce.model;
    d.device = ce.device;
    d.name = cb.at("name").get<std::string>();
    d.params = cb.at("params");
    d.unit = cb.at("unit").get<std::string>();
    d.direction = cb.at("direction") == "higher" ? Direction::kHigher : Direction::kLower;
    d.metric = "median";
    settings(d.suite, d.name, d.key, d.threshold, d.alpha, d.gated);

    const json& bs = bb.at("skipped");
    const json& cs = cb.at("skipped");
    if (!bs.is_null() || !cs.is_null()) {
      // A skipped benchmark is never a pass: it gets its own verdict and counts as such.
      d.result.verdict = Verdict::kSkipped;
      d.result.note = !cs.is_null() ? "skipped in the candidate: " + cs.get<std::string>()
                                    : "skipped in the baseline: " + bs.get<std::string>();
      // Only a benchmark the baseline measured and the candidate lost can fail a strict gate.
      if (cs.is_null() || !bs.is_null()) d.gated = false;
      c.rows.push_back(std::move(d));
      continue;
    }
    if (bb.at("direction") != cb.at("direction") || bb.at("unit") != cb.at("unit")) {
      d.result.note = "unit or direction changed between the runs";
      d.gated = false;
      c.rows.push_back(std::move(d));
      continue;
    }
    std::vector<double> bsamp, csamp;
    if (opts.normalize_roofline) {
      auto br = roofline_samples(bb), cr = roofline_samples(cb);
      if (!br || !cr) {
        d.result.note = "no roofline_fraction to normalise by";
        d.gated = false;
        d.metric = "roofline_fraction";
        c.rows.push_back(std::move(d));
        continue;
      }
      bsamp = *br;
      csamp = *cr;
      d.metric = "roofline_fraction";
      d.unit = "fraction";
      d.direction = Direction::kHigher;
    } else {
      bsamp = finite_samples(bb);
      csamp = finite_samples(cb);
    }
    d.n_base = long(bsamp.size());
    d.n_cand = long(csamp.size());
    d.result = judge_samples(bsamp, csamp, d.direction, d.threshold, d.alpha);
    // A run that measured a benchmark while the host was throttled (counters.throttled, see
    // `dsbench run --throttle-threshold`) says so next to the verdict; the verdict stands.
    auto throttled = [](const json& b) {
      const json& cn = b.at("counters");
      auto it = cn.find("throttled");
      return it != cn.end() && it->is_number() && it->get<double>() > 0;
    };
    const bool tb = throttled(bb), tc = throttled(cb);
    if (tb || tc) {
      const std::string why = tb && tc ? "both runs" : tb ? "the baseline" : "the candidate";
      d.result.note += std::string(d.result.note.empty() ? "" : "; ") + "host throttled in " + why;
    }
    c.rows.push_back(std::move(d));
  }
  for (const auto& be : base_entries) {
    if (matched.count(be.key)) continue;
    c.missing.push_back(be.key);
    double t, a;
    bool gated;
    settings(be.suite, be.bench->at("name").get<std::string>(), be.key, t, a, gated);
    // A benchmark that was already skipped in the baseline loses nothing by going missing.
    c.missing_gated.push_back(gated && be.bench->at("skipped").is_null());
  }
  return c;
}

namespace {
json number_or_null(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }
}  // namespace

json Comparison::to_json() const {
  json rows_json = json::array();
  for (const auto& r : rows) {
    rows_json.push_back({{"key", r.key},
                         {"suite", r.suite},
                         {"name", r.name},
                         {"model", r.model},
                         {"device", r.device},
                         {"params", r.params},
                         {"unit", r.unit},
                         {"metric", r.metric},
                         {"direction", dsbench::to_string(r.direction)},
                         {"base_median", number_or_null(r.result.base_median)},
                         {"cand_median", number_or_null(r.result.cand_median)},
                         {"delta", number_or_null(r.result.delta)},
                         {"p_value", number_or_null(r.result.p_value)},
                         {"n_base", r.n_base},
                         {"n_cand", r.n_cand},
                         {"threshold", r.threshold},
                         {"alpha", r.alpha},
                         {"gated", r.gated},
                         {"verdict", to_string(r.result.verdict)},
                         {"note", r.result.note}});
  }
  json summary = json::object();
  for (Verdict v : {Verdict::kImproved, Verdict::kRegressed, Verdict::kUnchanged,
                    Verdict::kInconclusive, Verdict::kSkipped}) {
    summary[to_string(v)] = count(v);
  }
  summary["missing"] = missing.size();
  summary["new"] = added.size();
  return {{"schema", "dsbench.compare/1"},
          {"baseline", {{"file", base_source}, {"run_id", base_run_id}}},
          {"candidate", {{"file", cand_source}, {"run_id", cand_run_id}}},
          {"normalized", normalized ? json("roofline") : json(nullptr)},
          {"strict", strict},
          {"host_warnings", host_warnings},
          {"method_warnings", method_warnings},
          {"summary", summary},
          {"benchmarks", rows_json},
          {"missing", missing},
          {"new", added},
          {"gate_failed", gate_failed()}};
}

}  // namespace dsbench::reports
