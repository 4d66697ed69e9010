// Analytic KV model and vram model: known answers from published figures, budget inversion,
// parameter counts, and the checks behind quoted claims.
#include <cmath>

#include <gtest/gtest.h>

#include "dsbench/config.h"
#include "dsbench/error.h"
#include "kv_cache/kv_model.h"
#include "kv_cache/vram_model.h"

namespace dsbench::suites {
namespace {

using kernels::DType;

TEST(KvModel, DeepSeekV3KnownAnswers) {
  const ModelConfig m = load_model("deepseek-v3");
  EXPECT_EQ(*kv_values_per_token_layer(m, CacheKind::kMlaAbsorbed), 576);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(m, CacheKind::kMlaAbsorbed, DType::kBF16), 70272.0);  // 61*576*2
  EXPECT_NEAR(kv_bytes_per_token(m, CacheKind::kMlaAbsorbed, DType::kBF16) * 131072 / 1e9, 9.21, 0.01);
  // MHA-equivalent: 128 heads x (192 + 128) = 71.1x the latent.
  const double mha = kv_bytes_per_token(m, CacheKind::kMha, DType::kBF16);
  EXPECT_NEAR(mha / 70272.0, 71.1, 0.05);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(m, CacheKind::kMlaNaive, DType::kBF16), mha);
  EXPECT_DOUBLE_EQ(flashmla_fp8_bytes_per_token_layer(m), 656.0);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token_layer(m, CacheKind::kMlaAbsorbed, DType::kFP8E4M3), 576.0);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token_layer(m, CacheKind::kMlaAbsorbed, DType::kF32), 2304.0);
  EXPECT_FALSE(kv_values_per_token_layer(m, CacheKind::kGqa).has_value());
  EXPECT_EQ(actual_kind(m), CacheKind::kMlaAbsorbed);
}

TEST(KvModel, LlamaAndCrossModelKnownAnswers) {
  const ModelConfig l = load_model("llama-3.3-70b");
  const ModelConfig d = load_model("deepseek-v3");
  EXPECT_EQ(actual_kind(l), CacheKind::kGqa);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(l, CacheKind::kGqa, DType::kBF16), 327680.0);  // 80*2*8*128*2
  EXPECT_NEAR(kv_bytes_per_token(l, CacheKind::kGqa, DType::kBF16) * 131072 / 1e9, 42.9, 0.05);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(l, CacheKind::kMha, DType::kBF16), 8 * 327680.0);
  EXPECT_DOUBLE_EQ(kv_bytes_per_token(l, CacheKind::kMqa, DType::kBF16), 327680.0 / 8);
  EXPECT_NEAR(kv_bytes_per_token(l, CacheKind::kGqa, DType::kBF16) /
                  kv_bytes_per_token(d, CacheKind::kMlaAbsorbed, DType::kBF16),
              4.66, 0.005);
}

TEST(KvModel, EveryConfigHasItsActualVariant) {
  for (const std::string& name : list_models()) {
    const ModelConfig m = load_model(name);
    bool actual = false;
    for (const KvVariant& v : kv_variants(m)) {
      EXPECT_GT(v.values_per_token_layer, 0) << name;
      actual |= v.actual;
    }
    EXPECT_TRUE(actual) << name;
  }
}

TEST(KvModel, BudgetInvertsTotals) {
  const ModelConfig m = load_model("llama-3.3-70b");
  const double per = kv_bytes_per_token(m, CacheKind::kGqa, DType::kBF16);
  const int64_t n = max_context_for_budget(m, CacheKind::kGqa, DType::kBF16, 80e9, 2);
  EXPECT_LE(double(n) * per * 2, 80e9);
  EXPECT_GT(double(n + 1) * per * 2, 80e9);
  EXPECT_EQ(max_context_for_budget(m, CacheKind::kGqa, DType::kBF16, 0, 1), 0);
}

TEST(KvModel, ReportStatesTheRealFiguresBehindClaims) {
  const nlohmann::json d = kv_report(load_model("deepseek-v3"), DType::kBF16, 131072, 1, 0);
  ASSERT_FALSE(d["claims"].empty());
  EXPECT_NEAR(d["claims"][0]["real_factor_vs_mha_equivalent"].get<double>(), 71.1, 0.05);
  EXPECT_NE(d["claims"][0]["verdict"].get<std::string>().find("71.1x"), std::string::npos);
  const nlohmann::json l = kv_report(load_model("llama-3.3-70b"), DType::kBF16, 131072, 1, 0);
  ASSERT_FALSE(l["claims"].empty());
  EXPECT_DOUBLE_EQ(l["claims"][0]["real_gb"].get<double>(), 42.9);
  EXPECT_DOUBLE_EQ(l["claims"][0]["real_gib"].get<double>(), 40.0);
}

TEST(VramModel, ParameterCountsMatchPublishedSizes) {
  // Published totals: DeepSeek-V3 671B (+14B MTP), Llama-3.3-70B 70.6B, Qwen2.5-72B 72.7B,
  // DeepSeek-V2-Lite 15.7B, Kimi-K2 1.04T.
  const ParamCounts v3 = count_params(load_model("deepseek-v3"));
  EXPECT_NEAR(v3.total_main() / 1e9, 671, 671 * 0.01);
  EXPECT_NEAR(v3.total() / 1e9, 685, 685 * 0.015);
  EXPECT_NEAR(v3.active / 1e9, 37, 37 * 0.05);
  EXPECT_NEAR(count_params(load_model("llama-3.3-70b")).total_main() / 1e9, 70.6, 0.7);
  EXPECT_NEAR(count_params(load_model("qwen2.5-72b")).total_main() / 1e9, 72.7, 0.7);
  EXPECT_NEAR(count_params(load_model("deepseek-v2-lite")).total_main() / 1e9, 15.7, 0.3);
  EXPECT_NEAR(count_params(load_model("kimi-k2")).total_main() / 1e12, 1.04, 0.02);
}

TEST(VramModel, FitsTableAndQuantizations) {
  ASSERT_NE(find_quant("Q4_K_M"), nullptr);
  EXPECT_DOUBLE_EQ(find_quant("q4_k_m")->bits_per_weight, 4.85);
  EXPECT_EQ(find_quant("q9_z"), nullptr);
  const std::vector<Gpu> gpus = load_gpu_catalogue();
  ASSERT_GE(gpus.size(), 7u);
  VramOptions o;
  o.quant = "fp8";
  o.context = 131072;
  const nlohmann::json r = vram_report(load_model("deepseek-v3"), o, gpus);
  EXPECT_NEAR(r["weights_bytes"].get<double>() / 1e9, 671, 8);
  for (const auto& g : r["gpus"]) {
    EXPECT_FALSE(g["counts"]["1"]["fits"].get<bool>()) << g["gpu"];  // 671 GB fits on no single GPU
    if (g["id"] == "h200-141g") {
      EXPECT_TRUE(g["counts"]["8"]["fits"].get<bool>());
    }
    if (g["id"] == "rtx4090-24g") {
      EXPECT_FALSE(g["counts"]["8"]["fits"].get<bool>());
    }
  }
  VramOptions bad;
  bad.quant = "q9";
  EXPECT_THROW(vram_report(load_model("deepseek-v3"), bad, gpus), UsageError);
}

}  // namespace
}  // namespace dsbench::suites
