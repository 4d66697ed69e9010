// Load-balance metrics of MoE routing: per-expert token counts, max/mean (MaxVio), CV,
// normalised entropy, balancedness (mean/max as vLLM's EPLB log and SGLang print it), drops at a
// capacity factor, per-EP-rank load, nodes touched per token and dispatch bytes per token.
#pragma once

#include <cstdint>
#include <vector>

namespace dsbench::kernels {

// Summary of a load vector (tokens per expert, per rank, ...).
struct LoadStats {
  int n = 0;
  double total = 0, mean = 0, max = 0, min = 0;
  double max_over_mean = 0;  // 1 when perfectly balanced; n when one bin takes everything
  double max_vio = 0;        // max/mean - 1 (DeepSeek's MaxVio)
  double cv = 0;             // population stddev / mean
  double norm_entropy = 0;   // H(load/total) / ln(n): 1 uniform, 0 one-hot
  double balancedness = 0;   // mean / max: 1 uniform, 1/n one-hot
};
// All-zero loads give max_over_mean = balancedness = 1, cv = 0, norm_entropy = 1 (nothing to
// balance); n == 1 gives norm_entropy = 1.
LoadStats load_stats(const double* load, int n);
LoadStats load_stats(const std::vector<double>& load);

// counts[e] += number of (token, slot) pairs routed to e. Ids of -1 are ignored.
void count_expert_tokens(const int32_t* topk_ids, int64_t n_tokens, int top_k, int n_experts,
                         int64_t* counts);

// Token slots dropped when every expert accepts at most ceil(capacity_factor * assignments /
// n_experts) of them (GShard/Switch capacity).
int64_t capacity_drops(const int64_t* counts, int n_experts, double capacity_factor);

// Load per EP rank with the contiguous placement (rank r holds experts [r*E/ep, (r+1)*E/ep)).
// Requires ep to divide n_experts.
std::vector<double> ep_rank_load(const int64_t* counts, int n_experts, int ep);

// How many distinct nodes (experts placed contiguously, n_experts / n_nodes per node) and EP
// ranks each token's top-k touches.
struct FanoutStats {
  double mean_nodes = 0;
  int max_nodes = 0;
  double mean_ranks = 0;
  int max_ranks = 0;
  std::vector<int64_t> nodes_histogram;  // [n_nodes + 1]: tokens touching 0..n_nodes nodes
};
FanoutStats token_fanout(const int32_t* topk_ids, int64_t n_tokens, int top_k, int n_experts,
                         int n_nodes, int ep);

// Dispatch bytes per token for a hidden size and element size (bytes), three ways:
//   naive: one copy per routed expert (top_k copies);
//   per_rank: one copy per distinct destination GPU (DeepEP's NVLink path deduplicates so);
//   per_node: one copy per distinct destination node (the RDMA leg of DeepEP's internode path).
// Combine moves the same amount back.
struct DispatchBytes {
  double naive = 0, per_rank = 0, per_node = 0;
};
DispatchBytes dispatch_bytes_per_token(const FanoutStats& f, int top_k, int64_t hidden,
                                       double elem_bytes);

}  // namespace dsbench::kernels
