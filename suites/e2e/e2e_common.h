// Shared pieces of the e2e suite: the lazily built model, options, and run helpers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/config.h"
#include "dsbench/engine/kv_cache.h"
#include "dsbench/engine/model.h"
#include "dsbench/registry.h"

namespace dsbench::suites::e2e {

// Builds the synthetic model on first use and shares it among the suite's benchmarks (the runner
// destroys benchmarks one at a time; the last one frees the model).
struct ModelHolder {
  ModelConfig cfg;
  uint64_t seed = 0;
  std::shared_ptr<engine::Model> model;
  engine::Model& get();
};

// Why the engine cannot run this config here ("" when it can).
std::string engine_skip_reason(const ModelConfig& cfg);

// Reads an integer list option (plan "options") or returns the default.
std::vector<int64_t> int_list_option(const nlohmann::json& options, const char* key,
                                     std::vector<int64_t> dflt);
std::vector<engine::AttentionMode> modes_option(const nlohmann::json& options);

// Prefills each sequence with `context` tokens (chunks of at most `chunk` rows per forward) and
// returns the greedy next token of each.
std::vector<int32_t> prefill_sequences(engine::Model& m, engine::KvCache& cache,
                                       const std::vector<int32_t>& seqs, int64_t context, int64_t chunk,
                                       uint64_t seed);
// The same over any engine's forward (the CPU model with its cache, or the device engine).
using ForwardFn = std::function<void(const std::vector<engine::SeqInput>&, std::vector<float>&)>;
std::vector<int32_t> prefill_sequences(const ForwardFn& forward, int64_t vocab,
                                       const std::vector<int32_t>& seqs, int64_t context, int64_t chunk,
                                       uint64_t seed);

// tok[i] = argmax of row i of logits [tok.size(), vocab] (greedy decoding).
void greedy_next_tokens(const std::vector<float>& logits, int64_t vocab, std::vector<int32_t>& tok);

// A decode benchmark's measurement for any engine: two warm-up steps, then `steps` timed ones.
// `step` runs one step of the whole batch and returns its seconds, filling the stats. Counters:
// tokens_per_s, bytes (fixed weights + touched experts + cached rows, per step), gbps,
// experts_touched and, with peak_bw > 0, roofline_fraction against peak_bw (GB/s, recorded as
// `peak_key`).
Measurement measure_decode_steps(int64_t batch, int64_t steps, double peak_bw, const char* peak_key,
                                 const std::function<double(engine::ForwardStats*)>& step);

// Tokens/s at `batch` over batch 1, measured in alternating rounds so that both sides see the
// host in the same state: each round runs `steps` steps at batch 1, then `steps` at `batch` (after
// two warm-up steps of each), and gives one sample batch x (median batch-1 step seconds) / (median
// batch-B step seconds). Counters: tokens_per_s and tokens_per_s_batch1 (over all rounds),
// bytes_ratio (bytes a batch-B step reads over a batch-1 step) and rounds.
Measurement paired_decode_speedup(int64_t batch, int rounds, int64_t steps,
                                  const std::function<double(engine::ForwardStats*)>& step_one,
                                  const std::function<double(engine::ForwardStats*)>& step_many);

std::vector<Benchmark> decode_benchmarks(const SuiteContext& ctx, std::shared_ptr<ModelHolder> h);
Benchmark trace_overhead_benchmark(const SuiteContext& ctx, std::shared_ptr<ModelHolder> h);
std::vector<Benchmark> prefill_benchmarks(const SuiteContext& ctx, std::shared_ptr<ModelHolder> h);
std::vector<Benchmark> offline_benchmarks(const SuiteContext& ctx, std::shared_ptr<ModelHolder> h);
std::vector<Benchmark> capacity_benchmarks(const SuiteContext& ctx);
std::vector<Benchmark> gemm_benchmarks(const SuiteContext& ctx);
// Under --device cuda: decode and prefill of the device engine (skipped without a device).
std::vector<Benchmark> cuda_benchmarks(const SuiteContext& ctx, std::shared_ptr<ModelHolder> h);

}  // namespace dsbench::suites::e2e
