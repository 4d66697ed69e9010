// The moe_routing suite: how evenly DeepSeekMoE routing spreads tokens over experts and GPUs, how
// bias balancing and EPLB placement change that, and how fast routing and permutation run.
// Benchmarks, params, counters and data shapes: docs/suites/moe_routing.md.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "dsbench/error.h"
#include "dsbench/kernels/moe_gate.h"
#include "dsbench/kernels/moe_metrics.h"
#include "dsbench/registry.h"
#include "moe_routing/balancing.h"
#include "moe_routing/cuda_benchmarks.h"
#include "moe_routing/comparison.h"
#include "moe_routing/placement.h"
#include "moe_routing/routing_metrics.h"
#include "moe_routing/routing_trace.h"
#include "moe_routing/suite_options.h"
#include "moe_routing/timed_benchmarks.h"
#include "moe_routing/token_sources.h"

namespace dsbench::suites::moe {
namespace {

using nlohmann::json;

// Up to `max_layers` MoE layers spread evenly over the stack (0 = all).
std::vector<int> pick_layers(const ModelConfig& m, int max_layers) {
  std::vector<int> all = moe_layers(m);
  if (max_layers <= 0 || int(all.size()) <= max_layers) return all;
  std::vector<int> out;
  for (int i = 0; i < max_layers; ++i) out.push_back(all[size_t(i) * all.size() / max_layers]);
  return out;
}

json series(const std::vector<double>& v, size_t max_points) {
  json out = json::array();
  const size_t stride = std::max<size_t>(1, (v.size() + max_points - 1) / max_points);
  for (size_t i = 0; i < v.size(); i += stride) out.push_back(v[i]);
  return out;
}

Benchmark balance_benchmark(const ModelConfig& m, const kernels::GateConfig& g, SourceKind kind,
                            const MoeSuiteOptions& o, uint64_t seed) {
  Benchmark b;
  b.name = std::string("balance/") + source_name(kind);
  b.unit = "max_over_mean";
  b.direction = Direction::kLower;
  RoutingMetricsConfig rc;
  rc.layers = pick_layers(m, o.max_layers);
  rc.tokens = o.tokens;
  rc.windows = o.windows;
  rc.nodes = o.nodes;
  rc.hidden = m.hidden_size;
  rc.elem_bytes = kernels::dtype_bytes(o.dispatch_dtype);
  if (kind == SourceKind::kGate) {
    // A random matrix has no per-layer structure; a few layers and windows show it is near-uniform,
    // and full-size hidden states for every layer would dominate the suite's run time.
    rc.layers = pick_layers(m, std::min(o.max_layers > 0 ? o.max_layers : 4, 4));
    rc.tokens = std::min<int64_t>(rc.tokens, 2048);
    rc.windows = std::min(rc.windows, 2);
  }
  b.params = {{"source", source_name(kind)},
              {"tokens", rc.tokens},
              {"windows", rc.windows},
              {"layers", int(rc.layers.size())},
              {"dispatch_dtype", kernels::dtype_name(o.dispatch_dtype)}};
  if (kind == SourceKind::kZipf || kind == SourceKind::kDrift) b.params["zipf_s"] = o.zipf_s;
  if (kind == SourceKind::kDirichlet) b.params["dirichlet_alpha"] = o.dirichlet_alpha;
  if (kind == SourceKind::kTrace) {
    if (o.trace.empty()) {
      b.skipped = "no routing trace given (plan option \"trace\")";
      return b;
    }
    b.params["trace"] = o.trace;
    b.params.erase("layers");  // the trace decides which layers exist
  }
  SourceOptions so;
  so.zipf_s = o.zipf_s;
  so.dirichlet_alpha = o.dirichlet_alpha;
  so.noise = o.noise;
  so.hidden = m.hidden_size;
  so.seed = seed;
  const std::string trace_path = o.trace;
  b.measure = [g, kind, so, rc, trace_path]() {
    std::unique_ptr<RoutingTrace> trace;
    RoutingMetricsConfig cfg = rc;
    if (kind == SourceKind::kTrace) {
      trace = std::make_unique<RoutingTrace>(read_routing_trace(trace_path));
      cfg.layers.clear();
      for (const auto& [layer, L] : trace->layers) cfg.layers.push_back(layer);
      // Replay each recorded layer once, in `windows` windows.
      int64_t fewest = trace->layers.begin()->second.tokens();
      for (const auto& [layer, L] : trace->layers) fewest = std::min(fewest, L.tokens());
      cfg.tokens = std::max<int64_t>(1, fewest / cfg.windows);
    }
    TokenSource src(kind, g, so, trace.get());
    return measure_routing_metrics(src, g, cfg);
  };
  return b;
}

Benchmark bias_balancing_benchmark(const kernels::GateConfig& g, const MoeSuiteOptions& o,
                                   uint64_t seed) {
  Benchmark b;
  b.name = "balancing/aux_free_bias";
  b.unit = "max_over_mean";
  b.direction = Direction::kLower;
  BalanceSimOptions bo;
  bo.steps = o.steps;
  bo.tokens_per_step = o.tokens_per_step;
  bo.gamma = float(o.gamma);
  bo.zipf_s = o.zipf_s;
  bo.noise = o.noise;
  bo.seed = seed;
  b.params = {{"source", "zipf"},
              {"zipf_s", o.zipf_s},
              {"gamma", o.gamma},
              {"steps", o.steps},
              {"tokens_per_step", o.tokens_per_step}};
  b.measure = [g, bo]() {
    const BalanceSimResult r = simulate_bias_balancing(g, bo);
    Measurement m;
    // Samples: max/mean over the last 10% of steps, with balancing (one per step).
    const size_t tail = std::max<size_t>(1, r.with_bias.size() / 10);
    m.samples.assign(r.with_bias.end() - long(tail), r.with_bias.end());
    m.counters = {{"initial_max_over_mean", r.initial},
                  {"final_max_over_mean_with_bias", r.final_with},
                  {"final_max_over_mean_without_bias", r.final_without},
                  {"reduction", r.final_without > 0 ? 1.0 - r.final_with / r.final_without : 0.0},
                  {"bias_spread", r.bias_spread.empty() ? 0.0 : r.bias_spread.back()}};
    m.data = {{"steps", bo.steps},
              {"stride", std::max<size_t>(1, (r.with_bias.size() + 499) / 500)},
              {"with_bias", series(r.with_bias, 500)},
              {"without_bias", series(r.without_bias, 500)},
              {"bias_spread", series(r.bias_spread, 500)},
              {"final_bias", r.final_bias}};
    return m;
  };
  return b;
}

// Routing with and without the node limit M = 4: the model's gate against a node-limited variant
// (experts grouped by node, topk_group = 4) on the same Zipf stream.
Benchmark node_limit_benchmark(const ModelConfig& m, const kernels::GateConfig& g,
                               const MoeSuiteOptions& o, uint64_t seed) {
  Benchmark b;
  b.name = "routing/node_limit";
  b.unit = "nodes_per_token";
  b.direction = Direction::kLower;
  const int nodes = effective_nodes(g.n_experts, o.nodes);
  const int limit = std::min(4, nodes);
  b.params = {
      {"nodes", nodes}, {"max_nodes_per_token", limit}, {"tokens", o.tokens}, {"zipf_s", o.zipf_s}};
  if (nodes < 2 || g.top_k < 2) {
    b.skipped = "fewer than 2 nodes or top_k < 2: nothing to limit";
    return b;
  }
  SourceOptions so;
  so.zipf_s = o.zipf_s;
  so.noise = o.noise;
  so.seed = seed;
  const int64_t tokens = o.tokens;
  b.measure = [g, nodes, limit, so, tokens]() {
    kernels::GateConfig free_gate = g, limited = g;
    free_gate.method = g.scoring == kernels::ScoringFunc::kSigmoid ? kernels::TopkMethod::kNoAuxTc
                                                                   : kernels::TopkMethod::kGreedy;
    free_gate.n_group = free_gate.topk_group = 1;
    limited.n_group = nodes;
    limited.topk_group = limit;
    if (limited.method == kernels::TopkMethod::kGreedy)
      limited.method = kernels::TopkMethod::kGroupLimitedGreedy;
    json designs = json::array();
    Measurement m;
    for (const auto* gc : {&free_gate, &limited}) {
      TokenSource src(SourceKind::kZipf, *gc, so);
      std::vector<int32_t> ids(size_t(tokens) * gc->top_k);
      std::vector<float> w(ids.size());
      src.route(0, 0, 1, tokens, nullptr, ids.data(), w.data());
      const auto f =
          kernels::token_fanout(ids.data(), tokens, gc->top_k, gc->n_experts, nodes, nodes);
      std::vector<int64_t> c(gc->n_experts, 0);
      kernels::count_expert_tokens(ids.data(), tokens, gc->top_k, gc->n_experts, c.data());
      const auto s = kernels::load_stats(std::vector<double>(c.begin(), c.end()));
      designs.push_back({{"limited", gc == &limited},
                         {"mean_nodes", f.mean_nodes},
                         {"max_nodes", f.max_nodes},
                         {"nodes_histogram", f.nodes_histogram},
                         {"max_over_mean", s.max_over_mean}});
      const std::string p = gc == &limited ? "limited_" : "unlimited_";
      m.counters[p + "nodes_per_token"] = f.mean_nodes;
      m.counters[p + "nodes_per_token_max"] = f.max_nodes;
      m.counters[p + "max_over_mean"] = s.max_over_mean;
    }
    m.samples = {m.counters["limited_nodes_per_token"].get<double>()};
    m.data = {{"designs", designs}};
    return m;
  };
  return b;
}

// EPLB over the loads a Zipf stream puts on the model's experts, for one redundancy level.
Benchmark placement_benchmark(const ModelConfig& m, const kernels::GateConfig& g,
                              const MoeSuiteOptions& o, int gpus, int nodes, int redundant,
                              uint64_t seed) {
  Benchmark b;
  b.name = "placement/eplb";
  b.unit = "balancedness";
  b.direction = Direction::kHigher;
  PlacementParams p;
  p.replicas = g.n_experts + redundant;
  p.groups = g.n_group;
  p.nodes = nodes;
  p.gpus = gpus;
  b.params = {{"gpus", gpus},           {"nodes", nodes},         {"groups", g.n_group},
              {"redundant", redundant}, {"replicas", p.replicas}, {"source", "zipf"},
              {"zipf_s", o.zipf_s}};
  SourceOptions so;
  so.zipf_s = o.zipf_s;
  so.noise = o.noise;
  so.seed = seed;
  const std::vector<int> layers = pick_layers(m, o.max_layers);
  const int64_t tokens = o.tokens * o.windows;
  b.measure = [g, so, p, layers, tokens]() {
    TokenSource src(SourceKind::kZipf, g, so);
    LoadMatrix lm;
    lm.source = "zipf";
    lm.experts = g.n_experts;
    lm.layers = int(layers.size());
    lm.layer_ids = layers;
    std::vector<int32_t> ids(size_t(tokens) * g.top_k);
    std::vector<float> w(ids.size());
    for (int layer : layers) {
      src.route(layer, 0, 1, tokens, nullptr, ids.data(), w.data());
      std::vector<int64_t> c(g.n_experts, 0);
      kernels::count_expert_tokens(ids.data(), tokens, g.top_k, g.n_experts, c.data());
      lm.load.insert(lm.load.end(), c.begin(), c.end());
    }
    const PlacementReport r = plan_placement(lm, p);
    Measurement m;
    m.samples = r.after_balancedness;
    m.counters = {{"balancedness_before", r.mean_before},
                  {"balancedness_after", r.mean_after},
                  {"worst_balancedness_before", r.worst_before},
                  {"worst_balancedness_after", r.worst_after},
                  {"max_replicas", r.placement.max_replicas},
                  {"hierarchical", r.placement.hierarchical ? 1 : 0}};
    m.data = placement_json(lm, p, r, false);
    return m;
  };
  return b;
}

// EP layout for the placement benchmarks: 8 GPUs per node, as many GPUs as give each at least
// 4 experts (up to 32).
void placement_shape(int n_experts, const MoeSuiteOptions& o, int* gpus, int* nodes) {
  int gp = o.eplb_gpus;
  if (gp <= 0) {
    gp = 1;
    for (int c : {32, 16, 8, 4, 2})
      if (n_experts % c == 0 && n_experts / c >= 4) {
        gp = c;
        break;
      }
  }
  int nd = o.eplb_nodes > 0 ? o.eplb_nodes : std::max(1, gp / 8);
  *gpus = gp;
  *nodes = nd;
}

std::vector<Benchmark> make_benchmarks(const SuiteContext& ctx) {
  const ModelConfig& m = ctx.model;
  const kernels::GateConfig g = gate_config_for(m);  // UsageError for a dense model
  MoeSuiteOptions o = parse_suite_options(ctx.options, ctx.quick);
  if (o.nodes == 0) o.nodes = g.n_group > 1 ? g.n_group : 8;
  std::vector<Benchmark> out;
  const uint64_t seed = ctx.seed;

  for (SourceKind k : {SourceKind::kGate, SourceKind::kZipf, SourceKind::kDirichlet,
                       SourceKind::kDrift, SourceKind::kTrace})
    out.push_back(balance_benchmark(m, g, k, o, seed));
  out.push_back(bias_balancing_benchmark(g, o, seed));
  out.push_back(node_limit_benchmark(m, g, o, seed));

  int gpus = 1, nodes = 1;
  placement_shape(g.n_experts, o, &gpus, &nodes);
  for (int redundant : {0, gpus, 2 * gpus})
    if (redundant <= g.n_experts)
      out.push_back(placement_benchmark(m, g, o, gpus, nodes, redundant, seed));

  {
    ComparisonOptions co;
    co.zipf_s = o.zipf_s;
    co.tokens = ctx.quick ? 2048 : 16384;
    co.hidden = m.hidden_size;
    co.elem_bytes = kernels::dtype_bytes(o.dispatch_dtype);
    co.balance_steps = ctx.quick ? 150 : 400;
    co.tokens_per_step = ctx.quick ? 256 : 512;
    co.gamma = float(o.gamma);
    co.seed = seed;
    Benchmark b;
    b.name = "compare/standard_vs_deepseekmoe";
    b.unit = "max_over_mean";
    b.direction = Direction::kLower;
    b.params = {{"zipf_s", co.zipf_s}, {"tokens", co.tokens}, {"hidden", co.hidden}};
    b.measure = [co]() { return measure_comparison(co); };
    out.push_back(std::move(b));
  }

  // Router throughput on this model's shape and on DeepSeek-V3's.
  std::vector<ModelConfig> shapes = {m};
  if (m.name != "deepseek-v3") {
    try {
      shapes.push_back(load_model("deepseek-v3"));
    } catch (const UsageError&) {
      // No deepseek-v3 config next to this one: the model's own shape still runs.
    }
  }
  for (const auto& s : shapes) {
    const int64_t tokens = o.router_tokens;
    out.push_back(router_gate_benchmark(s, tokens, seed));
    out.push_back(router_full_benchmark(
        s, ctx.quick ? std::min<int64_t>(tokens, 1024) : std::min<int64_t>(tokens, 8192), seed));
  }
  out.push_back(permute_plan_benchmark(m, o.permute_tokens, seed));
  out.push_back(permute_dispatch_benchmark(m, o.permute_tokens, o.dispatch_dtype, seed));
  out.push_back(permute_combine_benchmark(m, o.permute_tokens, seed));
  for (auto& b : out)
    if (b.device.empty()) b.device = "cpu";  // CPU kernels: roofline against the CPU peaks
  // With --device cuda the same kernels also run on the GPU (or are skipped without one).
  if (ctx.device == "cuda") {
    for (Benchmark& b : moe_routing_cuda_benchmarks(ctx)) out.push_back(std::move(b));
  }
  return out;
}

}  // namespace
}  // namespace dsbench::suites::moe

DSBENCH_REGISTER_SUITE(
    {"moe_routing",
     "DeepSeekMoE routing: expert/GPU load balance, bias balancing, EPLB placement, "
     "router and permute throughput",
     dsbench::suites::moe::make_benchmarks});
