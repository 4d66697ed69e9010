// Shared helpers for the engine tests: a small MLA + grouped-MoE config that runs in milliseconds.
#pragma once

#include <cmath>
#include <cstddef>

#include <nlohmann/json.hpp>

#include "dsbench/config.h"

namespace dsbench::engine::engine_test {

// Relative L2 error of `got` against `want` (vectors of equal length), in double.
template <class Got, class Want>
double rel_err(const Got& got, const Want& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = double(got[i]) - double(want[i]);
    num += d * d;
    den += double(want[i]) * double(want[i]);
  }
  return std::sqrt(num / den);
}

// Same architecture as dsv3-tiny (q_lora, decoupled RoPE with YaRN, dense first layer, grouped
// sigmoid routing with shared expert) at a fraction of the size.
inline ModelConfig small_config() {
  nlohmann::json j = {
      {"model_type", "deepseek_v3"}, {"hidden_size", 64}, {"intermediate_size", 128},
      {"moe_intermediate_size", 32}, {"num_hidden_layers", 3}, {"num_attention_heads", 4},
      {"num_key_value_heads", 4}, {"n_shared_experts", 1}, {"n_routed_experts", 16},
      {"routed_scaling_factor", 2.5}, {"kv_lora_rank", 32}, {"q_lora_rank", 48},
      {"qk_rope_head_dim", 16}, {"v_head_dim", 16}, {"qk_nope_head_dim", 16},
      {"topk_method", "noaux_tc"}, {"n_group", 4}, {"topk_group", 2}, {"num_experts_per_tok", 4},
      {"moe_layer_freq", 1}, {"first_k_dense_replace", 1}, {"norm_topk_prob", true},
      {"scoring_func", "sigmoid"}, {"max_position_embeddings", 163840}, {"rms_norm_eps", 1e-6},
      {"eos_token_id", 1}, {"rope_theta", 10000}, {"vocab_size", 300},
      {"rope_scaling",
       {{"type", "yarn"}, {"factor", 40}, {"original_max_position_embeddings", 4096},
        {"beta_fast", 32}, {"beta_slow", 1}, {"mscale", 1.0}, {"mscale_all_dim", 1.0}}}};
  return parse_model_config(j, "small-test-config");
}

}  // namespace dsbench::engine::engine_test
