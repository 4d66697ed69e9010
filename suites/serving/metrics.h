// Serving metrics with vLLM bench's definitions (TTFT, TPOT, ITL, E2EL, throughputs, goodput
// under SLOs), per-request rows, and the BenchmarkRecords that carry them in the result schema.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/results.h"
#include "serving/client.h"

namespace dsbench::serving {

// --slo ttft:MS,tpot:MS,e2el:MS (any subset). A request is "good" when it meets every SLO given.
struct Slo {
  std::optional<double> ttft_ms, tpot_ms, e2el_ms;
  bool empty() const { return !ttft_ms && !tpot_ms && !e2el_ms; }
};
// UsageError naming --slo on bad text.
Slo parse_slo(const std::string& text);

// TPOT of one request: (E2EL - TTFT) / (output_tokens - 1); nullopt when output_tokens <= 1.
std::optional<double> tpot_seconds(const RequestResult& r);

// Everything vLLM's bench prints (completed, failed, totals, request/output/total throughput,
// goodput, mean/median/p90/p99 of TTFT/TPOT/ITL/E2EL in ms), plus schedule slip, the token
// source and the failure reasons.
nlohmann::json summarize(const LoadResult& run, const Slo& slo);

// One row per request (kept in the result's data).
nlohmann::json request_rows(const LoadResult& run);

// The records of one load run: ttft, tpot, itl, e2el (samples in seconds, lower is better) and
// output_throughput (tok/s, higher; counters hold the summary; data holds summary, failures and
// per-request rows). `params` identifies the run (concurrency, rate, lengths, engine ...).
std::vector<BenchmarkRecord> load_records(const LoadResult& run, const Slo& slo,
                                          const nlohmann::json& params,
                                          std::optional<double> client_events_per_s = {});

}  // namespace dsbench::serving
