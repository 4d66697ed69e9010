// e2e cache capacity per attention mode, measured from the paged allocator: bytes per token as
// the allocator accounts them, and how many requests of a fixed context fit one byte budget.
// Needs only cache row sizes, so it runs for the full deepseek-v3 shape without its weights.
#include "dsbench/error.h"
#include "e2e/e2e_common.h"

namespace dsbench::suites::e2e {
using engine::AttentionMode;

namespace {
struct Fit {
  int64_t requests = 0, tokens = 0, blocks_used = 0, blocks_total = 0;
  double bytes_per_token = 0;
};

// Admits requests of `context` tokens until the allocator refuses one.
Fit fill(const ModelConfig& cfg, AttentionMode mode, int64_t budget, int64_t context) {
  engine::KvCacheOptions o;
  o.mode = mode;
  o.dtype = kernels::DType::kBF16;
  o.budget_bytes = budget;
  engine::KvCache cache(cfg, o);
  Fit f;
  f.blocks_total = cache.pool().num_blocks();
  while (true) {
    const int32_t s = cache.pool().add_sequence();
    try {
      cache.pool().append_tokens(s, context);
    } catch (const std::runtime_error&) {
      cache.pool().free_sequence(s);
      break;
    }
    ++f.requests;
  }
  f.tokens = cache.pool().tokens_cached();
  f.blocks_used = cache.pool().used_blocks();
  f.bytes_per_token = cache.pool().bytes_per_token();
  return f;
}
}  // namespace

std::vector<Benchmark> capacity_benchmarks(const SuiteContext& ctx) {
  std::vector<Benchmark> out;
  std::vector<ModelConfig> cfgs;
  if (ctx.model.is_mla()) cfgs.push_back(ctx.model);
  if (ctx.model.name != "deepseek-v3") cfgs.push_back(load_model("deepseek-v3"));
  const int64_t budget_mib = int_list_option(ctx.options, "budget_mib", {8192}).at(0);
  const int64_t context = int_list_option(ctx.options, "capacity_context", {500}).at(0);
  for (const auto& cfg : cfgs) {
    for (AttentionMode mode : engine::all_attention_modes()) {
      Benchmark b;
      b.name = "cache_bytes_per_token";
      b.params = {{"model", cfg.name}, {"mode", engine::to_string(mode)}, {"dtype", "bf16"}};
      b.unit = "bytes";
      b.direction = Direction::kLower;
      b.measure = [cfg, mode, context]() {
        // Four requests of `context` tokens: partial last blocks are part of what a token costs.
        const int64_t row = engine::cache_bytes_per_token(cfg, mode, kernels::DType::kBF16);
        Fit f = fill(cfg, mode, 4 * (context / kernels::kDefaultBlockSize + 1) * kernels::kDefaultBlockSize * row, context);
        Measurement m;
        m.samples = {f.bytes_per_token};
        m.counters["row_bytes"] = double(row);
        m.counters["requests"] = double(f.requests);
        return m;
      };
      out.push_back(std::move(b));
    }
    // Concurrency at one budget per mode; the ratio to mha_cache is what MLA buys end to end.
    for (AttentionMode mode : engine::all_attention_modes()) {
      Benchmark b;
      b.name = "max_concurrency";
      b.params = {{"model", cfg.name}, {"mode", engine::to_string(mode)}, {"dtype", "bf16"},
                  {"budget_mib", budget_mib}, {"context", context}};
      b.unit = "requests";
      b.direction = Direction::kHigher;
      b.measure = [cfg, mode, budget_mib, context]() {
        Fit f = fill(cfg, mode, budget_mib << 20, context);
        const Fit mha = fill(cfg, AttentionMode::kMhaCache, budget_mib << 20, context);
        Measurement m;
        m.samples = {double(f.requests)};
        m.counters["concurrent_tokens"] = double(f.tokens);
        m.counters["blocks_used"] = double(f.blocks_used);
        m.counters["blocks_total"] = double(f.blocks_total);
        m.counters["bytes_per_token"] = f.bytes_per_token;
        m.counters["context_vs_mha_cache"] = mha.tokens > 0 ? double(f.tokens) / double(mha.tokens) : 0.0;
        return m;
      };
      out.push_back(std::move(b));
    }
  }
  return out;
}

}  // namespace dsbench::suites::e2e
