// Model configs in Hugging Face config.json format, and the loader that validates them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsbench {

enum class AttentionKind { kMla, kGqa };  // GQA covers MHA (kv == q heads) and MQA (kv == 1)

struct RopeScaling {
  std::string type;  // "" (none), "yarn", "llama3", "linear", ...
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;
  double beta_fast = 32, beta_slow = 1, mscale = 1.0, mscale_all_dim = 0.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
};

struct ModelConfig {
  std::string name;                  // file stem, e.g. "deepseek-v3"
  std::filesystem::path source;      // file it was loaded from
  std::string model_type;            // "deepseek_v3", "llama", ...
  AttentionKind attention = AttentionKind::kGqa;

  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;              // GQA models; MLA uses the split dims below
  int64_t intermediate_size = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;

  // MLA (DeepSeek-V2/V3, Kimi-K2). q_lora_rank == 0 means no query compression.
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;

  // DeepSeekMoE. n_routed_experts == 0 means a dense model.
  int64_t n_routed_experts = 0;
  int64_t n_shared_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  int64_t moe_intermediate_size = 0;
  int64_t first_k_dense_replace = 0;
  int64_t moe_layer_freq = 1;
  double routed_scaling_factor = 1.0;
  std::string scoring_func = "softmax";  // "sigmoid" | "softmax"
  std::string topk_method = "greedy";    // "noaux_tc" | "greedy" | "group_limited_greedy"
  bool norm_topk_prob = false;
  int64_t num_nextn_predict_layers = 0;

  nlohmann::json raw;  // the file as loaded, for fields this struct does not model

  bool is_mla() const { return attention == AttentionKind::kMla; }
  bool is_moe() const { return n_routed_experts > 0; }
  bool is_moe_layer(int64_t layer) const {
    return is_moe() && layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
  }
  int64_t qk_head_dim() const { return is_mla() ? qk_nope_head_dim + qk_rope_head_dim : head_dim; }
  int64_t value_head_dim() const { return is_mla() ? v_head_dim : head_dim; }
  // YaRN attention-scale correction (DeepSeek reference): 0.1*mscale_all_dim*ln(factor)+1.
  double yarn_mscale() const;
  // Softmax scale of attention, including mscale^2 when YaRN applies.
  double softmax_scale() const;
};

// Directory holding configs/models (source tree, or $DSBENCH_CONFIG_DIR).
std::filesystem::path models_dir();
// Names of the configs in models_dir(), sorted.
std::vector<std::string> list_models();
// Loads a model by name (configs/models/NAME.json) or by path to any config.json.
// Throws UsageError naming the model, file and field on any problem.
ModelConfig load_model(const std::string& name_or_path);
// Parses an already-read config; `source` names the file in error messages.
ModelConfig parse_model_config(const nlohmann::json& j, const std::string& source);

// Reads and parses a JSON file; UsageError naming the file (and line/column) on failure.
nlohmann::json read_json_file(const std::filesystem::path& path);

}  // namespace dsbench
