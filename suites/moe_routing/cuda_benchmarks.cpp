// CUDA MoE benchmarks (moe_routing_cuda): gate, dispatch/combine and grouped expert GEMM on the
// model's routing shapes; inputs generated on the device, CUDA-event timing with a cold L2.
#include "moe_routing/cuda_benchmarks.h"

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/cuda_benchmark.h"
#include "dsbench/kernels/cuda/gbench.h"
#include "dsbench/kernels/cuda/memory.h"
#include "dsbench/kernels/cuda/moe_gate.h"
#include "dsbench/kernels/cuda/moe_grouped_gemm.h"
#include "dsbench/kernels/cuda/moe_permute.h"
#include "moe_routing/token_sources.h"

namespace dsbench::suites::moe {
namespace {

namespace k = kernels;
namespace kc = kernels::cuda;
using nlohmann::json;

// Uniformly random top-k ids (distinct per token), as routing of a balanced layer.
std::vector<int32_t> random_ids(int64_t tokens, int top_k, int experts, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> ids(size_t(tokens) * top_k);
  std::vector<int32_t> perm(experts);
  for (int e = 0; e < experts; ++e) perm[e] = e;
  for (int64_t t = 0; t < tokens; ++t) {
    for (int j = 0; j < top_k; ++j) {
      std::uniform_int_distribution<int> d(j, experts - 1);
      std::swap(perm[j], perm[d(rng)]);
      ids[t * top_k + j] = perm[j];
    }
  }
  return ids;
}

Benchmark gate(const SuiteContext& ctx, const k::GateConfig& g, int64_t tokens) {
  Benchmark b =
      cuda_benchmark(ctx, "router/gate", {{"tokens", tokens}, {"experts", g.n_experts}, {"top_k", g.top_k}});
  b.bytes = double(tokens) * g.n_experts * 4 + double(tokens) * g.top_k * 8;
  if (!b.skipped.empty()) return b;
  struct Inputs {
    kc::DeviceBuffer logits, bias, ids, w;
  };
  auto in = std::make_shared<std::unique_ptr<Inputs>>();
  const uint64_t seed = ctx.seed;
  b.timed = [in, g, tokens, seed](benchmark::State& st) {
    if (!*in) {
      auto x = std::make_unique<Inputs>();
      const size_t n = size_t(tokens) * g.n_experts;
      x->logits = kc::DeviceBuffer(n * 4);
      kc::fill_uniform_f32(x->logits.as<float>(), n, seed, -4.0f, 4.0f);
      x->bias = kc::DeviceBuffer(size_t(g.n_experts) * 4);
      kc::fill_uniform_f32(x->bias.as<float>(), g.n_experts, seed + 1, -0.1f, 0.1f);
      x->ids = kc::DeviceBuffer(size_t(tokens) * g.top_k * 4);
      x->w = kc::DeviceBuffer(size_t(tokens) * g.top_k * 4);
      *in = std::move(x);
    }
    Inputs& x = **in;
    kc::run_cuda_benchmark(st, [&] {
      kc::moe_gate_cuda(g, x.logits.as<float>(), tokens, x.bias.as<float>(), x.ids.as<int32_t>(),
                        x.w.as<float>());
    });
    st.counters["tokens_per_s"] =
        benchmark::Counter(double(tokens), benchmark::Counter::kIsIterationInvariantRate);
  };
  return b;
}

struct PermuteInputs {
  kc::MoePermutationDevice plan;
  kc::DeviceBuffer x, rows, w, y;
};

std::shared_ptr<std::unique_ptr<PermuteInputs>> permute_inputs() {
  return std::make_shared<std::unique_ptr<PermuteInputs>>();
}

void init_permute(std::unique_ptr<PermuteInputs>& in, const k::GateConfig& g, int64_t tokens,
                  int64_t hidden, uint64_t seed) {
  if (in) return;
  auto x = std::make_unique<PermuteInputs>();
  auto ids = kc::upload(random_ids(tokens, g.top_k, g.n_experts, seed));
  kc::moe_permute_plan_cuda(ids.as<int32_t>(), tokens, g.top_k, g.n_experts, &x->plan);
  x->x = kc::DeviceBuffer(size_t(tokens) * hidden * 2);
  kc::fill_uniform_bf16(x->x.get(), size_t(tokens) * hidden, seed + 1, -1.0f, 1.0f);
  x->rows = kc::DeviceBuffer(size_t(x->plan.rows) * hidden * 2);
  kc::fill_uniform_bf16(x->rows.get(), size_t(x->plan.rows) * hidden, seed + 2, -1.0f, 1.0f);
  x->w = kc::DeviceBuffer(size_t(tokens) * g.top_k * 4);
  kc::fill_uniform_f32(x->w.as<float>(), size_t(tokens) * g.top_k, seed + 3, 0.0f, 1.0f);
  x->y = kc::DeviceBuffer(size_t(tokens) * hidden * 2);
  in = std::move(x);
}

Benchmark dispatch(const SuiteContext& ctx, const k::GateConfig& g, int64_t tokens,
                   int64_t hidden) {
  Benchmark b =
      cuda_benchmark(ctx, "permute/dispatch",
           {{"tokens", tokens}, {"hidden", hidden}, {"top_k", g.top_k}, {"dtype", "bf16"}});
  b.bytes = 2.0 * double(tokens) * g.top_k * hidden * 2;  // every row read and written
  if (!b.skipped.empty()) return b;
  auto in = permute_inputs();
  const uint64_t seed = ctx.seed + 10;
  b.timed = [in, g, tokens, hidden, seed](benchmark::State& st) {
    init_permute(*in, g, tokens, hidden, seed);
    PermuteInputs& x = **in;
    kc::run_cuda_benchmark(
        st, [&] { kc::moe_dispatch_cuda(x.plan, x.x.get(), hidden * 2, x.rows.get()); });
  };
  return b;
}

Benchmark combine(const SuiteContext& ctx, const k::GateConfig& g, int64_t tokens, int64_t hidden) {
  Benchmark b =
      cuda_benchmark(ctx, "permute/combine",
           {{"tokens", tokens}, {"hidden", hidden}, {"top_k", g.top_k}, {"dtype", "bf16"}});
  b.bytes = double(tokens) * g.top_k * (hidden * 2 + 12) + double(tokens) * hidden * 2;
  if (!b.skipped.empty()) return b;
  auto in = permute_inputs();
  const uint64_t seed = ctx.seed + 20;
  b.timed = [in, g, tokens, hidden, seed](benchmark::State& st) {
    init_permute(*in, g, tokens, hidden, seed);
    PermuteInputs& x = **in;
    kc::run_cuda_benchmark(st, [&] {
      kc::moe_combine_cuda(x.plan, x.rows.get(), x.w.as<float>(), hidden, k::DType::kBF16,
                           x.y.get());
    });
  };
  return b;
}

// One expert-parallel shard holding `experts` of the model's `total` experts: of tokens x top_k
// routed rows, its share (experts / total) lands on it, spread uniformly over its experts.
Benchmark grouped_gemm(const SuiteContext& ctx, int64_t tokens, int top_k, int experts, int total,
                       int64_t hidden, int64_t inter) {
  const int64_t n = 2 * inter;  // gate and up projections fused, as the engine runs them
  const int64_t rows = std::max<int64_t>(1, tokens * top_k * experts / total);
  Benchmark b = cuda_benchmark(ctx, "experts/grouped_gemm",
                     {{"tokens", tokens},
                      {"top_k", top_k},
                      {"experts", experts},
                      {"rows", rows},
                      {"hidden", hidden},
                      {"n", n},
                      {"dtype", "bf16"}});
  b.flops = kc::moe_grouped_gemm_flops(rows, n, hidden);
  b.bytes = (double(rows) * hidden + double(experts) * n * hidden + double(rows) * n) * 2;
  if (!b.skipped.empty()) return b;
  struct Inputs {
    std::vector<int64_t> offsets;
    kc::DeviceBuffer x, w, y;
  };
  auto in = std::make_shared<std::unique_ptr<Inputs>>();
  const uint64_t seed = ctx.seed + 30;
  b.timed = [in, rows, experts, hidden, n, seed](benchmark::State& st) {
    if (!*in) {
      auto x = std::make_unique<Inputs>();
      // Rows per expert from a uniform multinomial split of all routed rows.
      std::mt19937_64 rng(seed);
      std::vector<int64_t> counts(experts, 0);
      std::uniform_int_distribution<int> d(0, experts - 1);
      for (int64_t r = 0; r < rows; ++r) ++counts[d(rng)];
      x->offsets.assign(experts + 1, 0);
      for (int e = 0; e < experts; ++e) x->offsets[e + 1] = x->offsets[e] + counts[e];
      x->x = kc::DeviceBuffer(size_t(rows) * hidden * 2);
      kc::fill_uniform_bf16(x->x.get(), size_t(rows) * hidden, seed, -1.0f, 1.0f);
      x->w = kc::DeviceBuffer(size_t(experts) * n * hidden * 2);
      kc::fill_uniform_bf16(x->w.get(), size_t(experts) * n * hidden, seed + 1, -0.05f, 0.05f);
      x->y = kc::DeviceBuffer(size_t(rows) * n * 2);
      *in = std::move(x);
    }
    Inputs& x = **in;
    kc::run_cuda_benchmark(st, [&] {
      kc::moe_grouped_gemm_cuda(x.x.get(), x.offsets, x.w.get(), n, hidden, x.y.get());
    });
  };
  return b;
}

}  // namespace

std::vector<Benchmark> moe_routing_cuda_benchmarks(const SuiteContext& ctx) {
  const k::GateConfig g = gate_config_for(ctx.model);
  const int64_t hidden = ctx.model.hidden_size;
  const int64_t inter = std::max<int64_t>(ctx.model.moe_intermediate_size, 1);
  std::vector<Benchmark> out;
  const int64_t tokens = ctx.quick ? 1024 : 16384;
  out.push_back(gate(ctx, g, tokens));
  out.push_back(dispatch(ctx, g, ctx.quick ? 512 : 4096, hidden));
  out.push_back(combine(ctx, g, ctx.quick ? 512 : 4096, hidden));
  // An expert-parallel shard of 8 GPUs (at least one expert) at a decode-sized batch.
  const int local = std::max(1, g.n_experts / 8);
  out.push_back(
      grouped_gemm(ctx, ctx.quick ? 256 : 4096, g.top_k, local, g.n_experts, hidden, inter));
  return out;
}


}  // namespace dsbench::suites::moe
