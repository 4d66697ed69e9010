// Router and permutation timings (timed_benchmarks.h). Each benchmark owns its buffers through a
// shared state built on the first call, so listing a plan allocates nothing.
#include "moe_routing/timed_benchmarks.h"

#include <memory>
#include <random>
#include <vector>

#include "dsbench/kernels/moe_gate.h"
#include "dsbench/kernels/moe_permute.h"
#include "dsbench/kernels/moe_router.h"
#include "moe_routing/token_sources.h"

namespace dsbench::suites::moe {

namespace {

void fill_normal(std::vector<float>& v, uint64_t seed, float stddev) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, stddev);
  for (float& x : v) x = nd(rng);
}

nlohmann::json gate_params(const ModelConfig& m, const kernels::GateConfig& g, int64_t tokens) {
  return {{"shape", m.name},
          {"experts", g.n_experts},
          {"top_k", g.top_k},
          {"n_group", g.n_group},
          {"topk_group", g.topk_group},
          {"tokens", tokens},
          {"scoring", g.scoring == kernels::ScoringFunc::kSigmoid ? "sigmoid" : "softmax"}};
}

// Routing ids for permutation benchmarks: Zipf(1.0) popularity through the model's gate, so
// expert segments have realistic, unequal sizes.
std::vector<int32_t> zipf_routing(const kernels::GateConfig& g, int64_t tokens, uint64_t seed,
                                  std::vector<float>* weights) {
  SourceOptions so;
  so.seed = seed;
  TokenSource src(SourceKind::kZipf, g, so);
  std::vector<int32_t> ids(size_t(tokens) * g.top_k);
  weights->resize(ids.size());
  // Route in chunks to bound the logits buffer.
  const int64_t chunk = 4096;
  for (int64_t t0 = 0; t0 < tokens; t0 += chunk) {
    const int64_t n = std::min(chunk, tokens - t0);
    src.route(0, int(t0 / chunk), 1, n, nullptr, ids.data() + t0 * g.top_k,
              weights->data() + t0 * g.top_k);
  }
  return ids;
}

}  // namespace

int64_t llc_exceeding_tokens(int top_k, int64_t row_bytes) {
  const double target = 512.0 * (1 << 20);
  return std::max<int64_t>(1024, int64_t(target / (double(top_k) * double(row_bytes))) + 1);
}

Benchmark router_gate_benchmark(const ModelConfig& shape, int64_t tokens, uint64_t seed) {
  const kernels::GateConfig g = gate_config_for(shape);
  Benchmark b;
  b.name = "router/gate";
  b.params = gate_params(shape, g, tokens);
  b.bytes = double(tokens) * g.n_experts * 4 + double(tokens) * g.top_k * 8;
  struct State {
    std::vector<float> logits, bias, w;
    std::vector<int32_t> ids;
  };
  auto st = std::make_shared<State>();
  b.timed = [st, g, tokens, seed](benchmark::State& state) {
    if (st->logits.empty()) {
      st->logits.resize(size_t(tokens) * g.n_experts);
      fill_normal(st->logits, seed, 1.0f);
      st->bias.resize(g.n_experts);
      fill_normal(st->bias, seed + 1, 0.01f);  // a trained gate has a non-zero correction bias
      st->ids.resize(size_t(tokens) * g.top_k);
      st->w.resize(st->ids.size());
    }
    for (auto _ : state) {
      kernels::moe_gate(g, st->logits.data(), tokens, st->bias.data(), st->ids.data(),
                        st->w.data());
      benchmark::DoNotOptimize(st->ids.data());
      benchmark::ClobberMemory();
    }
    state.counters["tokens_per_s"] =
        benchmark::Counter(double(tokens), benchmark::Counter::kIsIterationInvariantRate);
  };
  return b;
}

Benchmark router_full_benchmark(const ModelConfig& shape, int64_t tokens, uint64_t seed) {
  const kernels::GateConfig g = gate_config_for(shape);
  const int64_t h = shape.hidden_size;
  Benchmark b;
  b.name = "router/full";
  b.params = gate_params(shape, g, tokens);
  b.params["hidden"] = h;
  b.flops = 2.0 * double(tokens) * double(h) * g.n_experts;
  b.bytes =
      4.0 * (double(tokens) * h + double(g.n_experts) * h + 2.0 * double(tokens) * g.n_experts) +
      double(tokens) * g.top_k * 8;
  struct State {
    std::vector<float> x, w_gate, logits, bias, w;
    std::vector<int32_t> ids;
  };
  auto st = std::make_shared<State>();
  b.timed = [st, g, h, tokens, seed](benchmark::State& state) {
    if (st->x.empty()) {
      st->x.resize(size_t(tokens) * h);
      fill_normal(st->x, seed, 1.0f);
      st->w_gate.resize(size_t(g.n_experts) * h);
      fill_normal(st->w_gate, seed + 1, 1.0f / std::sqrt(float(h)));
      st->bias.resize(g.n_experts);
      fill_normal(st->bias, seed + 2, 0.01f);
      st->logits.resize(size_t(tokens) * g.n_experts);
      st->ids.resize(size_t(tokens) * g.top_k);
      st->w.resize(st->ids.size());
    }
    for (auto _ : state) {
      kernels::moe_router_logits(st->x.data(), st->w_gate.data(), tokens, h, g.n_experts,
                                 st->logits.data());
      kernels::moe_gate(g, st->logits.data(), tokens, st->bias.data(), st->ids.data(),
                        st->w.data());
      benchmark::DoNotOptimize(st->ids.data());
      benchmark::ClobberMemory();
    }
    state.counters["tokens_per_s"] =
        benchmark::Counter(double(tokens), benchmark::Counter::kIsIterationInvariantRate);
  };
  return b;
}

Benchmark permute_plan_benchmark(const ModelConfig& m, int64_t tokens, uint64_t seed) {
  const kernels::GateConfig g = gate_config_for(m);
  if (tokens <= 0) tokens = llc_exceeding_tokens(g.top_k, m.hidden_size * 2);
  Benchmark b;
  b.name = "permute/plan";
  b.params = {{"tokens", tokens}, {"experts", g.n_experts}, {"top_k", g.top_k}};
  // Reads the ids, writes counts, slot_row (8 B) and row_token (4 B) per assignment.
  b.bytes = double(tokens) * g.top_k * (4 + 8 + 4);
  struct State {
    std::vector<int32_t> ids;
    kernels::MoePermutation plan;
  };
  auto st = std::make_shared<State>();
  b.timed = [st, g, tokens, seed](benchmark::State& state) {
    if (st->ids.empty()) {
      std::vector<float> w;
      st->ids = zipf_routing(g, tokens, seed, &w);
    }
    for (auto _ : state) {
      kernels::moe_permute_plan(st->ids.data(), tokens, g.top_k, g.n_experts, &st->plan);
      benchmark::DoNotOptimize(st->plan.row_token.data());
    }
    state.counters["tokens_per_s"] =
        benchmark::Counter(double(tokens), benchmark::Counter::kIsIterationInvariantRate);
  };
  return b;
}

Benchmark permute_dispatch_benchmark(const ModelConfig& m, int64_t tokens, kernels::DType dtype,
                                     uint64_t seed) {
  const kernels::GateConfig g = gate_config_for(m);
  const int64_t row_bytes = m.hidden_size * kernels::dtype_bytes(dtype);
  if (tokens <= 0) tokens = llc_exceeding_tokens(g.top_k, row_bytes);
  Benchmark b;
  b.name = "permute/dispatch";
  b.params = {{"tokens", tokens},
              {"hidden", m.hidden_size},
              {"experts", g.n_experts},
              {"top_k", g.top_k},
              {"dtype", kernels::dtype_name(dtype)}};
  b.bytes = 2.0 * double(tokens) * g.top_k * double(row_bytes);
  struct State {
    std::vector<uint8_t> x, out;
    kernels::MoePermutation plan;
  };
  auto st = std::make_shared<State>();
  b.timed = [st, g, tokens, row_bytes, seed](benchmark::State& state) {
    if (st->x.empty()) {
      std::vector<float> w;
      const auto ids = zipf_routing(g, tokens, seed, &w);
      kernels::moe_permute_plan(ids.data(), tokens, g.top_k, g.n_experts, &st->plan);
      st->x.resize(size_t(tokens) * row_bytes);
      std::mt19937_64 rng(seed);
      for (auto& v : st->x) v = uint8_t(rng());
      st->out.assign(size_t(st->plan.rows()) * row_bytes, 0xA5);
    }
    for (auto _ : state) {
      kernels::moe_dispatch(st->plan, st->x.data(), row_bytes, st->out.data());
      benchmark::ClobberMemory();
    }
    state.counters["tokens_per_s"] =
        benchmark::Counter(double(tokens), benchmark::Counter::kIsIterationInvariantRate);
  };
  return b;
}

Benchmark permute_combine_benchmark(const ModelConfig& m, int64_t tokens, uint64_t seed) {
  const kernels::GateConfig g = gate_config_for(m);
  const int64_t h = m.hidden_size;
  if (tokens <= 0) tokens = llc_exceeding_tokens(g.top_k, h * 2);
  Benchmark b;
  b.name = "permute/combine";
  b.params = {{"tokens", tokens},
              {"hidden", h},
              {"experts", g.n_experts},
              {"top_k", g.top_k},
              {"dtype", "bf16"}};
  b.bytes =
      double(tokens) * g.top_k * h * 2 + double(tokens) * h * 2 + double(tokens) * g.top_k * 12;
  b.flops = 2.0 * double(tokens) * g.top_k * h;
  struct State {
    std::vector<kernels::bf16> eo, y;
    std::vector<float> w;
    kernels::MoePermutation plan;
  };
  auto st = std::make_shared<State>();
  b.timed = [st, g, tokens, h, seed](benchmark::State& state) {
    if (st->eo.empty()) {
      const auto ids = zipf_routing(g, tokens, seed, &st->w);
      kernels::moe_permute_plan(ids.data(), tokens, g.top_k, g.n_experts, &st->plan);
      std::vector<float> tmp(size_t(st->plan.rows()) * h);
      fill_normal(tmp, seed + 3, 1.0f);
      st->eo.resize(tmp.size());
      for (size_t i = 0; i < tmp.size(); ++i) st->eo[i] = kernels::bf16(tmp[i]);
      st->y.resize(size_t(tokens) * h);
    }
    for (auto _ : state) {
      kernels::moe_combine(st->plan, st->eo.data(), st->w.data(), h, st->y.data());
      benchmark::ClobberMemory();
    }
    state.counters["tokens_per_s"] =
        benchmark::Counter(double(tokens), benchmark::Counter::kIsIterationInvariantRate);
  };
  return b;
}

}  // namespace dsbench::suites::moe
