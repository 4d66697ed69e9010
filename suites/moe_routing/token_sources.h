// Where routed tokens come from (docs/moe_routing.md, "Token sources"): hidden states through a
// random gate, Zipf or Dirichlet expert popularity, popularity drifting over the stream, and a
// recorded routing trace. Each produces top-k routing for (layer, window) through the real gate.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dsbench/config.h"
#include "dsbench/kernels/moe_gate.h"
#include "moe_routing/routing_trace.h"

namespace dsbench::suites::moe {

// The model's gate. UsageError naming the model when it has no routed experts.
kernels::GateConfig gate_config_for(const ModelConfig& m);
// MoE layer indices of the model.
std::vector<int> moe_layers(const ModelConfig& m);

enum class SourceKind { kGate, kZipf, kDirichlet, kDrift, kTrace };
const char* source_name(SourceKind k);

struct SourceOptions {
  double zipf_s = 1.0;           // Zipf exponent (kZipf, kDrift)
  double dirichlet_alpha = 0.3;  // concentration (kDirichlet); smaller = more skewed
  double noise = 1.0;            // scale of the Gumbel noise on top of log-popularity
  int64_t hidden = 0;            // hidden size (kGate)
  uint64_t seed = 1234;
};

// Expert popularity p (sums to 1) drawn for one layer: Zipf over a random ranking, or Dirichlet.
std::vector<double> zipf_popularity(int n_experts, double s, std::mt19937_64& rng);
std::vector<double> dirichlet_popularity(int n_experts, double alpha, std::mt19937_64& rng);

// Popularity-skewed affinities: logit[t, i] = ln(p_i * E) + noise * Gumbel. Without a bias, the
// gate's top-1 is then expert i with probability p_i exactly (Gumbel-max), and top-k samples
// without replacement in proportion to p; a correction bias can still move selection.
void popularity_logits(const std::vector<double>& p, double noise, int64_t n_tokens,
                       std::mt19937_64& rng, float* logits);

// Routes `n_tokens` tokens of (layer, window) for a model's gate. Logit sources draw a fresh batch
// each call (seeded by layer and window, so results do not depend on call order); the trace source
// replays the layer's recorded tokens, window by window, wrapping around.
class TokenSource {
 public:
  TokenSource(SourceKind kind, const kernels::GateConfig& gate, const SourceOptions& opt,
              const RoutingTrace* trace = nullptr);
  SourceKind kind() const { return kind_; }
  // ids/weights: [n_tokens, top_k]. bias: optional correction bias for selection.
  void route(int layer, int window, int n_windows, int64_t n_tokens, const float* bias,
             int32_t* ids, float* weights);
  // Logits only (not for the trace source). logits: [n_tokens, n_experts].
  void logits(int layer, int window, int n_windows, int64_t n_tokens, float* out);

 private:
  const std::vector<double>& popularity(int layer, int which);
  SourceKind kind_;
  kernels::GateConfig gate_;
  SourceOptions opt_;
  const RoutingTrace* trace_;
  std::vector<std::vector<double>> pop_a_, pop_b_;  // per layer; b is the drift target
  std::vector<float> gate_w_;  // random gate of gate_w_layer_ (kGate); one at a time, they are big
  int gate_w_layer_ = -1;
  std::vector<float> logits_, x_;
};

}  // namespace dsbench::suites::moe
