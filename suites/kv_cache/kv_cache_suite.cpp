// The kv_cache suite: analytic and allocator-measured KV bytes per token for every config and
// attention kind, and timed CPU decode attention (MHA/GQA/MQA, MLA-naive, MLA-absorbed) over
// context and batch sweeps. Names, params and counters: docs/suites/kv_cache.md.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "dsbench/error.h"
#include "dsbench/host.h"
#include "dsbench/kernels/attention.h"
#include "dsbench/kernels/paged_cache.h"
#include "dsbench/registry.h"
#include "kv_cache/cuda_benchmarks.h"
#include "kv_cache/decode_inputs.h"
#include "kv_cache/kv_model.h"

namespace dsbench::suites {
namespace {

using kernels::DType;
using nlohmann::json;

constexpr double kMemCapBytes = 3.0 * double(1ull << 30);  // inputs of one benchmark
constexpr double kTimeCapSeconds = 2.0;                    // estimated time of one iteration
constexpr int kBlockSize = kernels::kDefaultBlockSize;

// ---- analytic vs allocator bytes per token ---------------------------------------------------

// Bytes per token per layer as the paged allocator actually holds them: a pool whose row is laid
// out as the kernels read it, filled with whole blocks of two sequences.
double allocator_bytes_per_token_layer(const ModelConfig& m, CacheKind k, DType dt) {
  int64_t row = 0;
  const int esz = kernels::dtype_bytes(dt);
  const int H = int(m.num_attention_heads);
  if (m.is_mla()) {
    const int qk = int(m.qk_nope_head_dim + m.qk_rope_head_dim), v = int(m.v_head_dim);
    switch (k) {
      case CacheKind::kMlaAbsorbed: row = (m.kv_lora_rank + m.qk_rope_head_dim) * esz; break;
      case CacheKind::kMlaNaive:
      case CacheKind::kMha: row = kernels::gqa_row_elems(H, qk, v) * esz; break;
      case CacheKind::kMqa: row = kernels::gqa_row_elems(1, qk, v) * esz; break;
      default: return 0;
    }
  } else {
    const int hd = int(m.head_dim);
    switch (k) {
      case CacheKind::kMha: row = kernels::gqa_row_elems(H, hd, hd) * esz; break;
      case CacheKind::kGqa: row = kernels::gqa_row_elems(int(m.num_key_value_heads), hd, hd) * esz; break;
      case CacheKind::kMqa: row = kernels::gqa_row_elems(1, hd, hd) * esz; break;
      default: return 0;
    }
  }
  kernels::PagedKvCache cache(8, row, kBlockSize);
  for (int s = 0; s < 2; ++s) cache.append_tokens(cache.add_sequence(), 2 * kBlockSize);
  return cache.bytes_per_token();
}

std::vector<Benchmark> analytic_benchmarks(const SuiteContext& ctx) {
  std::vector<std::string> models;
  if (ctx.quick) {
    models = {ctx.model.name};
    for (const char* n : {"deepseek-v3", "llama-3.3-70b"})
      if (n != ctx.model.name) models.push_back(n);
  } else {
    models = list_models();
  }
  std::vector<DType> dtypes = {DType::kBF16};
  if (!ctx.quick) dtypes = {DType::kF32, DType::kBF16, DType::kF16, DType::kFP8E4M3};
  std::vector<Benchmark> out;
  json summary = json::array();
  for (const std::string& name : models) {
    ModelConfig m;
    try {
      m = name == ctx.model.name ? ctx.model : load_model(name);
    } catch (const UsageError& e) {
      Benchmark b;
      b.name = "kv_bytes/config";
      b.params = {{"model", name}};
      b.skipped = std::string("config does not load: ") + e.what();
      out.push_back(b);
      continue;
    }
    for (const KvVariant& v : kv_variants(m)) {
      for (DType dt : dtypes) {
        Benchmark b;
        b.name = std::string("kv_bytes/") + cache_kind_name(v.kind);
        b.params = {{"model", m.name}, {"kind", cache_kind_name(v.kind)},
                    {"dtype", kernels::dtype_name(dt)}, {"layers", m.num_hidden_layers},
                    {"actual", v.actual}, {"block_size", kBlockSize}};
        b.unit = "bytes";
        b.direction = Direction::kLower;
        const double per_layer = kv_bytes_per_token_layer(m, v.kind, dt);
        const double layers = double(m.num_hidden_layers);
        const CacheKind kind = v.kind;
        const ModelConfig mc = m;
        b.measure = [=]() {
          Measurement r;
          const double alloc = allocator_bytes_per_token_layer(mc, kind, dt);
          r.samples = {per_layer * layers};
          r.counters = {{"bytes_per_token", per_layer * layers},
                        {"bytes_per_token_layer", per_layer},
                        {"allocator_bytes_per_token_layer", alloc},
                        {"allocator_bytes_per_token", alloc * layers},
                        {"allocator_matches", alloc == per_layer ? 1 : 0},
                        {"bytes_at_128k", per_layer * layers * 131072.0}};
          if (mc.is_mla() && kind == CacheKind::kMlaAbsorbed && dt == DType::kFP8E4M3)
            r.counters["flashmla_fp8_bytes_per_token_layer"] = flashmla_fp8_bytes_per_token_layer(mc);
          return r;
        };
        out.push_back(std::move(b));
      }
    }
    summary.push_back(kv_report(m, DType::kBF16, 131072, 1, 0));
  }
  // One record holding the per-model tables, for reports.
  Benchmark s;
  s.name = "kv_bytes/summary";
  s.params = {{"dtype", "bf16"}, {"context", 131072}};
  s.unit = "models";
  s.direction = Direction::kHigher;
  s.measure = [summary]() {
    Measurement r;
    r.samples = {double(summary.size())};
    r.data = summary;
    return r;
  };
  out.push_back(std::move(s));
  return out;
}

// ---- timed decode attention ------------------------------------------------------------------

struct Shape {
  std::string label;  // "dsv3-tiny", "deepseek-v3", ... (params.shape)
  bool mla = false;
  MlaShape mla_shape;
  int heads = 0, gqa_kv_heads = 0, head_dim = 0, v_head_dim = 0;
};

Shape shape_of(const ModelConfig& m) {
  Shape s;
  s.label = m.name;
  s.heads = int(m.num_attention_heads);
  if (m.is_mla()) {
    s.mla = true;
    s.mla_shape = {s.heads, int(m.kv_lora_rank), int(m.qk_nope_head_dim), int(m.qk_rope_head_dim),
                   int(m.v_head_dim)};
    s.head_dim = int(m.qk_nope_head_dim + m.qk_rope_head_dim);
    s.v_head_dim = int(m.v_head_dim);
    s.gqa_kv_heads = std::max(2, s.heads / 8);  // a GQA-equivalent: 8 query heads per kv head
  } else {
    s.head_dim = s.v_head_dim = int(m.head_dim);
    s.gqa_kv_heads = int(m.num_key_value_heads);
  }
  return s;
}

double llc_bytes() {
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  return l3 > 0 ? double(l3) : 32.0 * (1 << 20);
}

// Copies of the cache rotated through so the timed working set exceeds the last-level cache.
int rotation_copies(double one_copy_bytes) {
  const double target = std::max(256.0 * (1 << 20), 4 * llc_bytes());
  const int want = int(std::ceil(target / one_copy_bytes));
  const int fit = int(kMemCapBytes / one_copy_bytes);
  return std::clamp(want, 1, std::max(1, fit));
}

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1ull << 30));
  return buf;
}

Benchmark decode_benchmark(const SuiteContext& ctx, const Shape& sh, CacheKind kind, int64_t context,
                           int batch, DType dt) {
  Benchmark b;
  b.name = std::string("decode_attention/") + cache_kind_name(kind);
  b.device = "cpu";
  const std::vector<int32_t> lens(static_cast<size_t>(batch), static_cast<int32_t>(context));
  const bool is_mla = kind == CacheKind::kMlaNaive || kind == CacheKind::kMlaAbsorbed;
  const uint64_t seed = ctx.seed;
  json p = {{"context", context}, {"batch", batch}, {"heads", sh.heads}, {"dtype", kernels::dtype_name(dt)},
            {"block_size", kBlockSize}, {"shape", sh.label}, {"device", "cpu"}};
  kernels::AttentionCost cost;
  double footprint = 0, row_bytes = 0;
  if (is_mla) {
    const MlaShape& m = sh.mla_shape;
    p["kv_heads"] = 1;
    p["kv_lora_rank"] = m.kv_lora_rank;
    p["qk_rope_head_dim"] = m.qk_rope_head_dim;
    p["qk_nope_head_dim"] = m.qk_nope_head_dim;
    p["v_head_dim"] = m.v_head_dim;
    kernels::MlaDecodeArgs a;
    a.seqs.batch = batch;
    a.seqs.seq_lens = lens.data();
    a.heads = m.heads;
    a.kv_lora_rank = m.kv_lora_rank;
    a.qk_nope_head_dim = m.qk_nope_head_dim;
    a.qk_rope_head_dim = m.qk_rope_head_dim;
    a.v_head_dim = m.v_head_dim;
    a.latent.dtype = dt;
    cost = kind == CacheKind::kMlaNaive ? kernels::decode_attention_mla_naive_cost(a)
                                        : kernels::decode_attention_mla_absorbed_cost(a);
    footprint = DecodeInputs::mla_footprint(m, dt, lens, kBlockSize, 1);
    row_bytes = double(mla_row_bytes(m, dt));
  } else {
    const int kvh = kind == CacheKind::kMha ? sh.heads : kind == CacheKind::kMqa ? 1 : sh.gqa_kv_heads;
    const GqaShape g{sh.heads, kvh, sh.head_dim, sh.v_head_dim};
    p["kv_heads"] = kvh;
    p["head_dim"] = sh.head_dim;
    p["v_head_dim"] = sh.v_head_dim;
    kernels::GqaDecodeArgs a;
    a.seqs.batch = batch;
    a.seqs.seq_lens = lens.data();
    a.q_heads = g.q_heads;
    a.kv_heads = g.kv_heads;
    a.head_dim = g.head_dim;
    a.v_head_dim = g.v_head_dim;
    a.k.dtype = a.v.dtype = dt;
    cost = kernels::decode_attention_gqa_cost(a);
    footprint = DecodeInputs::gqa_footprint(g, dt, lens, kBlockSize, 1);
    row_bytes = double(gqa_row_bytes(g, dt));
  }
  b.params = p;
  b.bytes = cost.bytes();
  b.flops = cost.flops;
  b.counters = {{"cache_bytes", cost.cache_bytes}, {"cache_bytes_per_token_layer", row_bytes}};
  if (ctx.device == "cuda") {
    b.skipped = ctx.cuda_available ? "CPU kernel listed under device cuda: see the CUDA cases"
                                   : (ctx.cuda_reason.empty() ? "no CUDA device" : ctx.cuda_reason);
    return b;
  }
  if (footprint > kMemCapBytes) {
    b.skipped = "inputs need " + gib(footprint) + ", over the " + gib(kMemCapBytes) + " cap";
    return b;
  }
  const double peak = peak_gflops(ctx.host, "cpu");
  const double est = cost.flops / ((peak > 0 ? peak : 50.0) * 1e9 * 0.5);
  if (est > kTimeCapSeconds) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "estimated %.1f s per iteration, over the %.0f s cap", est, kTimeCapSeconds);
    b.skipped = buf;
    return b;
  }
  const int copies = rotation_copies(footprint);
  b.counters["rotation_copies"] = copies;
  const Shape shc = sh;
  auto holder = std::make_shared<std::unique_ptr<DecodeInputs>>();
  b.timed = [=](benchmark::State& state) {
    if (!*holder) {
      if (is_mla)
        *holder = std::make_unique<DecodeInputs>(
            DecodeInputs::make_mla(shc.mla_shape, dt, lens, kBlockSize, copies, seed));
      else
        *holder = std::make_unique<DecodeInputs>(DecodeInputs::make_gqa(
            {shc.heads, int(p["kv_heads"].get<int>()), shc.head_dim, shc.v_head_dim}, dt, lens,
            kBlockSize, copies, seed));
    }
    DecodeInputs& in = **holder;
    // The cache layout each kernel reads, decided once: lane groups where the kernel has that path.
    const bool lanes = kind == CacheKind::kMlaAbsorbed ? in.mla_latent_lanes()
                       : kind == CacheKind::kMlaNaive  ? false
                                                       : in.gqa_key_lanes();
    int i = 0;
    for (auto _ : state) {
      if (kind == CacheKind::kMlaAbsorbed) kernels::decode_attention_mla_absorbed(in.mla_args(i, lanes));
      else if (kind == CacheKind::kMlaNaive) kernels::decode_attention_mla_naive(in.mla_args(i));
      else kernels::decode_attention_gqa(in.gqa_args(i, lanes));
      benchmark::DoNotOptimize(in.out().data());
      ++i;
    }
    // The allocator's own accounting: bytes held per cached token of one layer (whole blocks).
    state.counters["allocator_bytes_per_token_layer"] = in.cache().bytes_per_token();
  };
  return b;
}

std::vector<CacheKind> kinds_for(const Shape& sh) {
  std::vector<CacheKind> k = {CacheKind::kMha};
  if (sh.gqa_kv_heads != sh.heads && sh.gqa_kv_heads != 1) k.push_back(CacheKind::kGqa);
  k.push_back(CacheKind::kMqa);
  if (sh.mla) {
    k.push_back(CacheKind::kMlaNaive);
    k.push_back(CacheKind::kMlaAbsorbed);
  }
  return k;
}

// MLA-absorbed vs MHA-equivalent latency at one context, derived from the two timed decode
// benchmarks of this run (batch 1, bf16): sample i is the ratio of repetition i of each, so both
// came from the same Google Benchmark timing and the same stretch of machine time.
Benchmark ratio_benchmark(const Shape& sh, int64_t context) {
  Benchmark b;
  b.name = "decode_attention/mla_absorbed_vs_mha";
  b.device = "cpu";
  b.unit = "ratio";
  b.direction = Direction::kLower;
  b.params = {{"context", context}, {"batch", 1}, {"heads", sh.heads}, {"dtype", "bf16"},
              {"block_size", kBlockSize}, {"shape", sh.label}, {"device", "cpu"}};
  const json want = b.params;
  b.derive = [want](const std::vector<BenchmarkRecord>& earlier) {
    json match;
    for (const char* k : {"context", "batch", "dtype", "shape"}) match[k] = want[k];
    const BenchmarkRecord* mla = find_earlier(earlier, "decode_attention/mla_absorbed", match);
    const BenchmarkRecord* mha = find_earlier(earlier, "decode_attention/mha", match);
    Measurement r;
    if (!mla || !mha) {  // not a failure: --filter left them out, or they were skipped
      const std::string missing = !mla && !mha ? "decode_attention/mla_absorbed and decode_attention/mha"
                                  : !mla       ? "decode_attention/mla_absorbed"
                                               : "decode_attention/mha";
      r.skipped = "needs " + missing + " at " + want.dump() +
                  " measured earlier in this run; --filter left it out or it was skipped";
      return r;
    }
    r.samples = sample_ratios(*mla, *mha);
    auto counter = [](const BenchmarkRecord* x, const char* k) { return x->counters.value(k, 0.0); };
    r.counters = {{"mla_median_s", mla->stats.median}, {"mha_median_s", mha->stats.median},
                  {"mla_cache_bytes", counter(mla, "bytes")}, {"mha_cache_bytes", counter(mha, "bytes")},
                  {"bytes_ratio_mha_over_mla", counter(mha, "bytes") / std::max(1.0, counter(mla, "bytes"))},
                  {"mla_flops", counter(mla, "flops")}, {"mha_flops", counter(mha, "flops")},
                  {"flops_ratio_mla_over_mha", counter(mla, "flops") / std::max(1.0, counter(mha, "flops"))}};
    return r;
  };
  return b;
}

std::vector<Benchmark> make_kv_cache(const SuiteContext& ctx) {
  std::vector<Benchmark> out = analytic_benchmarks(ctx);
  std::vector<Shape> shapes = {shape_of(ctx.model)};
  if (ctx.model.name != "deepseek-v3") shapes.push_back(shape_of(load_model("deepseek-v3")));
  const Shape first = shapes.front();
  if (ctx.quick) {
    for (CacheKind k : kinds_for(first)) out.push_back(decode_benchmark(ctx, first, k, 1024, 1, DType::kBF16));
    if (first.mla) {
      out.push_back(decode_benchmark(ctx, first, CacheKind::kMlaAbsorbed, 4096, 2, DType::kBF16));
      out.push_back(ratio_benchmark(first, 1024));
    }
  } else {
    // Plan options may narrow the sweep: {"contexts": [...], "batches": [...], "shapes": [...]}.
    auto list_opt = [&](const char* key, std::vector<int64_t> fallback) {
      if (!ctx.options.contains(key)) return fallback;
      const json& v = ctx.options[key];
      if (!v.is_array() || v.empty())
        throw UsageError(std::string("kv_cache option '") + key + "': expected a non-empty array of integers");
      std::vector<int64_t> out_v;
      for (const json& x : v) {
        if (!x.is_number_integer() || x.get<int64_t>() <= 0)
          throw UsageError(std::string("kv_cache option '") + key + "': expected positive integers");
        out_v.push_back(x.get<int64_t>());
      }
      return out_v;
    };
    const std::vector<int64_t> contexts = list_opt("contexts", {1024, 4096, 16384, 32768, 65536});
    const std::vector<int64_t> batches = list_opt("batches", {1, 4, 16});
    if (ctx.options.contains("shapes")) {
      const json& v = ctx.options["shapes"];
      std::vector<Shape> keep;
      for (const Shape& sh : shapes)
        if (v.is_array() && std::find(v.begin(), v.end(), json(sh.label)) != v.end()) keep.push_back(sh);
      if (keep.empty()) throw UsageError("kv_cache option 'shapes': names none of the shapes of this run");
      shapes = keep;
    }
    for (const Shape& sh : shapes)
      for (CacheKind k : kinds_for(sh))
        for (int64_t c : contexts)
          for (int64_t batch : batches)
            out.push_back(decode_benchmark(ctx, sh, k, c, int(batch), DType::kBF16));
    // fp32 storage at one point per kind (the engine's fp32 caches).
    for (CacheKind k : kinds_for(first)) out.push_back(decode_benchmark(ctx, first, k, 16384, 1, DType::kF32));
    for (const Shape& sh : shapes)
      if (sh.mla && std::count(contexts.begin(), contexts.end(), 32768) &&
          std::count(batches.begin(), batches.end(), 1))
        out.push_back(ratio_benchmark(sh, 32768));
  }
  if (ctx.device == "cuda") {
    for (Benchmark& b : kv_cache_cuda_benchmarks(ctx)) out.push_back(std::move(b));
  }
  return out;
}

}  // namespace

DSBENCH_REGISTER_SUITE({"kv_cache",
                        "KV bytes per token (analytic and allocator) for MHA/GQA/MQA/MLA; CPU decode "
                        "attention latency, GB/s, GFLOP/s and roofline vs context and batch",
                        make_kv_cache});

}  // namespace dsbench::suites
