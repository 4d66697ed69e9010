// MoE routing gates: the DeepSeek-V3 gate (sigmoid + correction bias + group-limited top-k),
// DeepSeek-V2 softmax greedy / group-limited greedy, and standard softmax top-k.
// Implemented in kernels/cpu/moe_gate.cpp; the engine and the moe_routing suite share it.
#pragma once

#include <cstdint>

namespace dsbench::kernels {

enum class ScoringFunc { kSigmoid, kSoftmax };
enum class TopkMethod {
  kNoAuxTc,            // DeepSeek-V3: group score = sum of top-2 biased scores; bias selects only
  kGreedy,             // plain top-k over all experts
  kGroupLimitedGreedy  // DeepSeek-V2: group score = max score in the group
};

struct GateConfig {
  int n_experts = 0;
  int top_k = 0;
  int n_group = 1;
  int topk_group = 1;
  ScoringFunc scoring = ScoringFunc::kSigmoid;
  TopkMethod method = TopkMethod::kNoAuxTc;
  bool norm_topk_prob = true;
  float routed_scaling_factor = 1.0f;
};

// logits: [n_tokens, n_experts] row-major (x · W_gate^T). bias: [n_experts] correction bias used
// for selection only (may be null). Writes topk_ids/topk_weights: [n_tokens, top_k], ids in
// descending order of the selection score. Ties break toward the lower expert id.
// Semantics follow DeepSeek-V3's reference inference Gate: masked groups are excluded outright
// (not zeroed), weights are the unbiased scores of the chosen experts, normalised when
// norm_topk_prob (the reference normalises the sigmoid path only; the shipped configs pair
// sigmoid with norm_topk_prob=true and softmax with false), then times routed_scaling_factor.
// A bias, when given, is added for selection under every method. Throws std::invalid_argument
// for an inconsistent config (top_k > n_experts, n_group not dividing n_experts, ...).
void moe_gate(const GateConfig& cfg, const float* logits, int64_t n_tokens, const float* bias,
              int32_t* topk_ids, float* topk_weights);

}  // namespace dsbench::kernels
