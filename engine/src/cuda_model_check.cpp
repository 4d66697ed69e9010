// What the device engine (engine/cuda) can run, checked on the host in every build so a config or
// option it cannot handle is refused by name before any device work, with or without CUDA.
#include <string>

#include "dsbench/engine/cuda_model.h"
#include "dsbench/error.h"

namespace dsbench::engine {

void CudaModel::check(const ModelConfig& cfg, const CudaModelOptions& opts) {
  auto bad = [&](const std::string& field, const std::string& why) {
    throw UsageError("CUDA engine (" + cfg.name + "): " + field + " " + why);
  };
  if (!cfg.is_mla()) bad("attention", "must be MLA (the engine runs MLA models)");
  if (opts.mode != AttentionMode::kMlaAbsorbed)
    bad("mode",
        std::string("must be mla_absorbed on the device (got ") + to_string(opts.mode) + ")");
  if (opts.cache_dtype != kernels::DType::kF32 && opts.cache_dtype != kernels::DType::kBF16)
    bad("cache_dtype",
        std::string("must be fp32 or bf16 (got ") + kernels::dtype_name(opts.cache_dtype) + ")");
  if (opts.block_size <= 0 || opts.block_size > 4096)
    bad("block_size", "must be in [1, 4096] (got " + std::to_string(opts.block_size) + ")");
  if (opts.cache_tokens <= 0)
    bad("cache_tokens", "must be > 0 (got " + std::to_string(opts.cache_tokens) + ")");
  // The latent-attention kernel keeps a row's output in 32 lanes x at most 32 registers.
  if (cfg.kv_lora_rank <= 0 || cfg.kv_lora_rank > 1024)
    bad("kv_lora_rank", "must be in [1, 1024] (got " + std::to_string(cfg.kv_lora_rank) + ")");
  if (cfg.qk_rope_head_dim <= 0 || cfg.qk_rope_head_dim % 2 || cfg.qk_rope_head_dim > 512)
    bad("qk_rope_head_dim",
        "must be even and in [2, 512] (got " + std::to_string(cfg.qk_rope_head_dim) + ")");
  if (cfg.qk_nope_head_dim <= 0 || cfg.v_head_dim <= 0 || cfg.num_attention_heads <= 0)
    bad("qk_nope_head_dim, v_head_dim and num_attention_heads", "must be > 0");
  if (cfg.hidden_size <= 0 || cfg.vocab_size <= 0) bad("hidden_size and vocab_size", "must be > 0");
  if (cfg.is_moe()) {
    // Limits of the CUDA gate (kernels/cuda/moe_gate.cu).
    if (cfg.n_routed_experts > 1024)
      bad("n_routed_experts", "must be <= 1024 (got " + std::to_string(cfg.n_routed_experts) + ")");
    if (cfg.n_group <= 0 || cfg.n_group > 32)
      bad("n_group", "must be in [1, 32] (got " + std::to_string(cfg.n_group) + ")");
    if (cfg.num_experts_per_tok <= 0 || cfg.num_experts_per_tok > cfg.n_routed_experts)
      bad("num_experts_per_tok",
          "must be in [1, n_routed_experts] (got " + std::to_string(cfg.num_experts_per_tok) + ")");
  }
}

}  // namespace dsbench::engine
