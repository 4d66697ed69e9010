// Token sources (token_sources.h): synthetic popularity models and trace replay.
#include "moe_routing/token_sources.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "dsbench/error.h"
#include "dsbench/kernels/moe_router.h"

namespace dsbench::suites::moe {

kernels::GateConfig gate_config_for(const ModelConfig& m) {
  if (!m.is_moe())
    throw UsageError("model '" + m.name + "' (" + m.source.string() +
                     ") has no routed experts (n_routed_experts is 0): the moe_routing suite needs "
                     "a MoE model such as deepseek-v3, dsv3-tiny, kimi-k2 or deepseek-v2-lite");
  kernels::GateConfig g;
  g.n_experts = int(m.n_routed_experts);
  g.top_k = int(m.num_experts_per_tok);
  g.n_group = int(std::max<int64_t>(1, m.n_group));
  g.topk_group = int(std::max<int64_t>(1, m.topk_group));
  g.scoring =
      m.scoring_func == "sigmoid" ? kernels::ScoringFunc::kSigmoid : kernels::ScoringFunc::kSoftmax;
  if (m.topk_method == "noaux_tc")
    g.method = kernels::TopkMethod::kNoAuxTc;
  else if (m.topk_method == "group_limited_greedy")
    g.method = kernels::TopkMethod::kGroupLimitedGreedy;
  else if (m.topk_method == "greedy")
    g.method = kernels::TopkMethod::kGreedy;
  else
    throw UsageError(m.source.string() + ": field 'topk_method': unknown value '" + m.topk_method +
                     "'");
  g.norm_topk_prob = m.norm_topk_prob;
  g.routed_scaling_factor = float(m.routed_scaling_factor);
  if (g.top_k <= 0 || g.top_k > g.n_experts || g.n_experts % g.n_group != 0 ||
      g.topk_group > g.n_group)
    throw UsageError(m.source.string() +
                     ": inconsistent routing fields (n_routed_experts, "
                     "num_experts_per_tok, n_group, topk_group)");
  return g;
}

std::vector<int> moe_layers(const ModelConfig& m) {
  std::vector<int> out;
  for (int64_t l = 0; l < m.num_hidden_layers; ++l)
    if (m.is_moe_layer(l)) out.push_back(int(l));
  return out;
}

const char* source_name(SourceKind k) {
  switch (k) {
    case SourceKind::kGate:
      return "random_gate";
    case SourceKind::kZipf:
      return "zipf";
    case SourceKind::kDirichlet:
      return "dirichlet";
    case SourceKind::kDrift:
      return "drift";
    case SourceKind::kTrace:
      return "trace";
  }
  return "?";
}

std::vector<double> zipf_popularity(int n, double s, std::mt19937_64& rng) {
  std::vector<int> rank(n);
  std::iota(rank.begin(), rank.end(), 0);
  std::shuffle(rank.begin(), rank.end(), rng);  // which expert is hot differs per layer
  std::vector<double> p(n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += (p[i] = std::pow(double(rank[i] + 1), -s));
  for (double& v : p) v /= sum;
  return p;
}

std::vector<double> dirichlet_popularity(int n, double alpha, std::mt19937_64& rng) {
  std::gamma_distribution<double> g(alpha, 1.0);
  std::vector<double> p(n);
  double sum = 0;
  for (double& v : p) sum += (v = std::max(g(rng), 1e-300));
  for (double& v : p) v /= sum;
  return p;
}

void popularity_logits(const std::vector<double>& p, double noise, int64_t n_tokens,
                       std::mt19937_64& rng, float* logits) {
  const int n = int(p.size());
  std::vector<float> base(n);
  for (int i = 0; i < n; ++i) base[i] = float(std::log(p[i] * n));
  std::uniform_real_distribution<double> u(1e-12, 1.0);
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int i = 0; i < n; ++i)
      logits[t * n + i] = base[i] + float(noise * -std::log(-std::log(u(rng))));
}

TokenSource::TokenSource(SourceKind kind, const kernels::GateConfig& gate, const SourceOptions& opt,
                         const RoutingTrace* trace)
    : kind_(kind), gate_(gate), opt_(opt), trace_(trace) {
  if (kind == SourceKind::kTrace) {
    if (!trace) throw UsageError("trace source: no routing trace given");
    if (trace->n_experts != gate.n_experts || trace->top_k != gate.top_k)
      throw UsageError(trace->source + ": trace has " + std::to_string(trace->n_experts) +
                       " experts, top_k " + std::to_string(trace->top_k) + "; the model has " +
                       std::to_string(gate.n_experts) + ", top_k " + std::to_string(gate.top_k));
  }
  if (kind == SourceKind::kGate && opt.hidden <= 0)
    throw UsageError("random_gate source: hidden size must be > 0");
}

const std::vector<double>& TokenSource::popularity(int layer, int which) {
  auto& v = which == 0 ? pop_a_ : pop_b_;
  if (int(v.size()) <= layer) v.resize(layer + 1);
  if (v[layer].empty()) {
    std::mt19937_64 rng(opt_.seed * 1000003ull + uint64_t(layer) * 7919ull +
                        uint64_t(which) * 104729ull);
    v[layer] = kind_ == SourceKind::kDirichlet
                   ? dirichlet_popularity(gate_.n_experts, opt_.dirichlet_alpha, rng)
                   : zipf_popularity(gate_.n_experts, opt_.zipf_s, rng);
  }
  return v[layer];
}

void TokenSource::logits(int layer, int window, int n_windows, int64_t n_tokens, float* out) {
  const int E = gate_.n_experts;
  std::mt19937_64 rng(opt_.seed ^ (uint64_t(layer) << 32) ^
                      (uint64_t(window) * 0x9e3779b97f4a7c15ull));
  switch (kind_) {
    case SourceKind::kGate: {
      const int64_t h = opt_.hidden;
      auto& w = gate_w_;
      if (gate_w_layer_ != layer) {
        gate_w_layer_ = layer;
        std::mt19937_64 wr(opt_.seed * 31ull + uint64_t(layer));
        std::normal_distribution<float> nd(0.0f, 1.0f / std::sqrt(float(h)));
        w.resize(size_t(E) * h);
        for (float& v : w) v = nd(wr);
      }
      x_.resize(size_t(n_tokens) * h);
      std::normal_distribution<float> nd(0.0f, 1.0f);
      for (float& v : x_) v = nd(rng);
      kernels::moe_router_logits(x_.data(), w.data(), n_tokens, h, E, out);
      return;
    }
    case SourceKind::kZipf:
    case SourceKind::kDirichlet:
      popularity_logits(popularity(layer, 0), opt_.noise, n_tokens, rng, out);
      return;
    case SourceKind::kDrift: {
      // Log-popularity slides from ranking A to an independent ranking B over the stream.
      const auto& a = popularity(layer, 0);
      const auto& b = popularity(layer, 1);
      const double f = n_windows > 1 ? double(window) / (n_windows - 1) : 0.0;
      std::vector<double> p(E);
      double sum = 0;
      for (int i = 0; i < E; ++i)
        sum += (p[i] = std::exp((1 - f) * std::log(a[i]) + f * std::log(b[i])));
      for (double& v : p) v /= sum;
      popularity_logits(p, opt_.noise, n_tokens, rng, out);
      return;
    }
    case SourceKind::kTrace:
      throw Error("trace source has no logits");
  }
}

void TokenSource::route(int layer, int window, int n_windows, int64_t n_tokens, const float* bias,
                        int32_t* ids, float* weights) {
  const int K = gate_.top_k;
  if (kind_ == SourceKind::kTrace) {
    auto it = trace_->layers.find(layer);
    if (it == trace_->layers.end()) it = trace_->layers.begin();  // unrecorded layer: reuse first
    const RoutingTraceLayer& L = it->second;
    const int64_t have = L.tokens();
    for (int64_t t = 0; t < n_tokens; ++t) {
      const int64_t src = (int64_t(window) * n_tokens + t) % have;
      for (int j = 0; j < K; ++j) {
        ids[t * K + j] = L.ids[src * K + j];
        weights[t * K + j] = L.weights.empty() ? 1.0f / K : L.weights[src * K + j];
      }
    }
    return;
  }
  logits_.resize(size_t(n_tokens) * gate_.n_experts);
  logits(layer, window, n_windows, n_tokens, logits_.data());
  kernels::moe_gate(gate_, logits_.data(), n_tokens, bias, ids, weights);
}

}  // namespace dsbench::suites::moe
