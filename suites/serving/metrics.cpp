// Serving metrics and their records (see metrics.h).
#include "serving/metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "dsbench/error.h"
#include "dsbench/stats.h"

namespace dsbench::serving {

using nlohmann::json;

Slo parse_slo(const std::string& text) {
  Slo s;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t colon = item.find(':');
    if (colon == std::string::npos) throw UsageError("--slo: expected NAME:MS, got '" + item + "'");
    std::string name = item.substr(0, colon), value = item.substr(colon + 1);
    char* end = nullptr;
    double ms = std::strtod(value.c_str(), &end);
    if (value.empty() || *end || !(ms > 0)) throw UsageError("--slo: '" + item + "': expected a positive number of ms");
    if (name == "ttft") s.ttft_ms = ms;
    else if (name == "tpot") s.tpot_ms = ms;
    else if (name == "e2el") s.e2el_ms = ms;
    else throw UsageError("--slo: unknown metric '" + name + "' (ttft, tpot, e2el)");
  }
  return s;
}

std::optional<double> tpot_seconds(const RequestResult& r) {
  if (!r.ok || r.output_tokens <= 1) return std::nullopt;
  return (r.e2el_s - r.ttft_s) / static_cast<double>(r.output_tokens - 1);
}

namespace {

json dist_ms(const std::vector<double>& seconds) {
  if (seconds.empty()) return json{{"n", 0}};
  double sum = 0;
  for (double v : seconds) sum += v;
  double mean = sum / static_cast<double>(seconds.size());
  double var = 0;
  for (double v : seconds) var += (v - mean) * (v - mean);
  return json{{"n", seconds.size()},
              {"mean_ms", mean * 1e3},
              {"median_ms", percentile(seconds, 50) * 1e3},
              {"std_ms", std::sqrt(var / static_cast<double>(seconds.size())) * 1e3},
              {"p90_ms", percentile(seconds, 90) * 1e3},
              {"p99_ms", percentile(seconds, 99) * 1e3},
              {"max_ms", *std::max_element(seconds.begin(), seconds.end()) * 1e3}};
}

bool is_good(const RequestResult& r, const Slo& slo) {
  if (!r.ok) return false;
  if (slo.ttft_ms && r.ttft_s * 1e3 > *slo.ttft_ms) return false;
  if (slo.e2el_ms && r.e2el_s * 1e3 > *slo.e2el_ms) return false;
  if (slo.tpot_ms) {
    auto t = tpot_seconds(r);
    if (t && *t * 1e3 > *slo.tpot_ms) return false;
  }
  return true;
}

struct Series {
  std::vector<double> ttft, tpot, itl, e2el, slip, wait;
};

Series collect(const LoadResult& run) {
  Series s;
  for (const auto& r : run.requests) {
    if (r.sent_s >= 0) {
      s.slip.push_back(r.sent_s - r.eligible_s);
      s.wait.push_back(r.eligible_s - r.intended_s);
    }
    if (!r.ok) continue;
    s.ttft.push_back(r.ttft_s);
    s.e2el.push_back(r.e2el_s);
    if (auto t = tpot_seconds(r)) s.tpot.push_back(*t);
    s.itl.insert(s.itl.end(), r.itl_s.begin(), r.itl_s.end());
  }
  return s;
}

}  // namespace

json summarize(const LoadResult& run, const Slo& slo) {
  Series s = collect(run);
  int64_t completed = 0, failed = 0, good = 0, in_tok = 0, out_tok = 0, from_usage = 0, from_chunks = 0;
  std::map<std::string, int64_t> reasons;
  for (const auto& r : run.requests) {
    if (!r.ok) {
      ++failed;
      ++reasons[r.error];
      continue;
    }
    ++completed;
    good += is_good(r, slo) ? 1 : 0;
    in_tok += r.prompt_tokens >= 0 ? r.prompt_tokens : r.prompt_len;
    out_tok += r.output_tokens;
    (r.tokens_source == "usage" ? from_usage : from_chunks) += 1;
  }
  const double d = run.duration_s > 0 ? run.duration_s : 0;
  auto rate = [&](double x) { return d > 0 ? x / d : 0.0; };
  json j = {{"num_prompts", run.requests.size()},
            {"completed", completed},
            {"failed", failed},
            {"failure_reasons", reasons},
            {"duration_s", d},
            {"total_input_tokens", in_tok},
            {"total_output_tokens", out_tok},
            {"request_throughput", rate(completed)},
            {"output_throughput", rate(out_tok)},
            {"total_token_throughput", rate(in_tok + out_tok)},
            {"tokens_source", from_chunks == 0 ? "usage" : from_usage == 0 ? "chunks" : "mixed"},
            {"requests_tokens_from_usage", from_usage},
            {"requests_tokens_from_chunks", from_chunks},
            {"sse_events", run.sse_events},
            {"client_events_per_s", run.events_per_s},
            {"ttft", dist_ms(s.ttft)},
            {"tpot", dist_ms(s.tpot)},
            {"itl", dist_ms(s.itl)},
            {"e2el", dist_ms(s.e2el)},
            {"schedule_slip", dist_ms(s.slip)},
            {"concurrency_wait", dist_ms(s.wait)}};
  if (!slo.empty()) {
    json so = json::object();
    if (slo.ttft_ms) so["ttft_ms"] = *slo.ttft_ms;
    if (slo.tpot_ms) so["tpot_ms"] = *slo.tpot_ms;
    if (slo.e2el_ms) so["e2el_ms"] = *slo.e2el_ms;
    j["slo"] = so;
    j["good_requests"] = good;
    j["request_goodput"] = rate(good);
  }
  return j;
}

json request_rows(const LoadResult& run) {
  json rows = json::array();
  for (const auto& r : run.requests) {
    json row = {{"index", r.index}, {"ok", r.ok}, {"intended_s", r.intended_s}, {"sent_s", r.sent_s},
                {"prompt_len", r.prompt_len}, {"output_tokens", r.output_tokens}, {"chunks", r.chunks}};
    if (r.prompt_tokens >= 0) row["prompt_tokens"] = r.prompt_tokens;
    if (r.sent_s >= 0) {
      row["slip_s"] = r.sent_s - r.eligible_s;
      row["wait_s"] = r.eligible_s - r.intended_s;
    }
    if (r.http_status) row["http_status"] = r.http_status;
    if (r.ok) {
      row["ttft_s"] = r.ttft_s;
      row["e2el_s"] = r.e2el_s;
      row["tokens_source"] = r.tokens_source;
      if (auto t = tpot_seconds(r)) row["tpot_s"] = *t;
    } else {
      row["error"] = r.error;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<BenchmarkRecord> load_records(const LoadResult& run, const Slo& slo, const json& params,
                                          std::optional<double> client_events_per_s) {
  Series s = collect(run);
  json summary = summarize(run, slo);
  if (client_events_per_s) summary["client_ceiling_events_per_s"] = *client_events_per_s;
  std::vector<BenchmarkRecord> out;
  // ITL can hold one gap per token of the run; keep at most this many samples (evenly spaced in
  // the sorted order, so the distribution is kept), while the counters use every gap.
  constexpr size_t kMaxSamples = 20000;
  auto latency = [&](const std::string& name, std::vector<double> v) {
    BenchmarkRecord r;
    r.name = name;
    r.params = params;
    r.direction = Direction::kLower;
    json d = summary[name];
    for (const auto& [k, val] : d.items()) r.counters[k] = val;
    if (v.size() > kMaxSamples) {
      std::sort(v.begin(), v.end());
      std::vector<double> thin(kMaxSamples);
      for (size_t i = 0; i < kMaxSamples; ++i) thin[i] = v[i * (v.size() - 1) / (kMaxSamples - 1)];
      v.swap(thin);
    }
    r.samples = std::move(v);
    if (r.samples.empty()) r.skipped = "no completed request gave this metric";
    r.stats = compute_stats(r.samples);
    out.push_back(std::move(r));
  };
  latency("ttft", s.ttft);
  latency("tpot", s.tpot);
  latency("itl", s.itl);
  latency("e2el", s.e2el);

  BenchmarkRecord t;
  t.name = "output_throughput";
  t.params = params;
  t.unit = "tok/s";
  t.direction = Direction::kHigher;
  t.samples = {summary["output_throughput"].get<double>()};
  t.stats = compute_stats(t.samples);
  for (const char* k : {"completed", "failed", "duration_s", "total_input_tokens", "total_output_tokens",
                        "request_throughput", "output_throughput", "total_token_throughput", "sse_events",
                        "client_events_per_s", "request_goodput", "good_requests",
                        "client_ceiling_events_per_s"})
    if (summary.contains(k)) t.counters[k] = summary[k];
  t.counters["schedule_slip_p99_ms"] = summary["schedule_slip"].value("p99_ms", 0.0);
  t.counters["schedule_slip_max_ms"] = summary["schedule_slip"].value("max_ms", 0.0);
  t.counters["concurrency_wait_p99_ms"] = summary["concurrency_wait"].value("p99_ms", 0.0);
  t.data = {{"summary", summary}, {"requests", request_rows(run)}};
  out.push_back(std::move(t));
  return out;
}

}  // namespace dsbench::serving
