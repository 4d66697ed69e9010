// Analytic KV-cache model: bytes per token (per layer and total) for MHA, GQA, MQA, MLA-naive and
// MLA-absorbed in fp32/bf16/fp16/fp8, the longest context that fits a budget, and the checks of
// published claims. Shared by `dsbench kv`, `dsbench vram` and the kv_cache suite.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/config.h"
#include "dsbench/kernels/dtype.h"

namespace dsbench::suites {

enum class CacheKind { kMha, kGqa, kMqa, kMlaNaive, kMlaAbsorbed };

const char* cache_kind_name(CacheKind k);   // "mha", "gqa", "mqa", "mla_naive", "mla_absorbed"
bool parse_cache_kind(const std::string& s, CacheKind* out);
inline constexpr CacheKind kAllCacheKinds[] = {CacheKind::kMha, CacheKind::kGqa, CacheKind::kMqa,
                                               CacheKind::kMlaNaive, CacheKind::kMlaAbsorbed};

// One way of caching a model's attention.
struct KvVariant {
  CacheKind kind;
  bool actual = false;        // what the model itself caches (GQA models: gqa; MLA: mla_absorbed)
  std::string description;    // what is cached, e.g. "128 heads x (K 192 + V 128)"
  int64_t values_per_token_layer = 0;
};

// The variants that make sense for a model:
//  - MLA models: mla_absorbed (actual: kv_lora_rank + qk_rope_head_dim), mla_naive (DeepSeek's
//    reference "naive" cache: per-head K = [k_nope; k_pe] and V), mha (MHA-equivalent with the same
//    heads, heads*(qk_head_dim + v_head_dim): the same values as mla_naive), mqa (one K/V head).
//  - GQA models: gqa (actual), mha (kv heads = query heads), mqa (one kv head).
std::vector<KvVariant> kv_variants(const ModelConfig& m);
// Values per token per layer for one kind; nullopt when it does not apply to the model.
std::optional<int64_t> kv_values_per_token_layer(const ModelConfig& m, CacheKind k);
// The kind the model caches in practice.
CacheKind actual_kind(const ModelConfig& m);

// Bytes per token per layer for a kind and dtype.
double kv_bytes_per_token_layer(const ModelConfig& m, CacheKind k, kernels::DType dt);
// All layers (num_hidden_layers; the MTP module's cache is not counted: it is a draft layer).
double kv_bytes_per_token(const ModelConfig& m, CacheKind k, kernels::DType dt);
// FlashMLA's FP8 cache row: kv_lora_rank fp8 values, one fp32 scale per 128, rope in bf16.
// 656 B for DeepSeek-V3. 0 for non-MLA models.
double flashmla_fp8_bytes_per_token_layer(const ModelConfig& m);

// Longest context (tokens per sequence) whose cache for `batch` sequences fits `budget_bytes`.
int64_t max_context_for_budget(const ModelConfig& m, CacheKind k, kernels::DType dt,
                               double budget_bytes, int64_t batch);

// Everything `dsbench kv` prints, as JSON: per variant bytes/token per layer and total, totals at
// context x batch, ratios, the longest context in the budget (when budget_bytes > 0), and the
// claim checks that apply to the model.
nlohmann::json kv_report(const ModelConfig& m, kernels::DType dt, int64_t context, int64_t batch,
                         double budget_bytes);

}  // namespace dsbench::suites
