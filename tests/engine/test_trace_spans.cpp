// The engine's trace spans: a decode step in mla_absorbed mode shows, per layer, the W_UK
// absorption, the latent attention kernel and the W_UV projection inside engine/decode_attention,
// in that order; the other modes have no absorption spans. Each MoE layer shows its experts'
// gate_up and down products inside engine/moe, in that order.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/engine/kv_cache.h"
#include "dsbench/engine/model.h"
#include "dsbench/trace.h"
#include "engine_test_util.h"

using namespace dsbench;
using namespace dsbench::engine;
namespace fs = std::filesystem;

namespace {

struct Span {
  std::string name;
  double t0, t1;
};

// Spans of one decode forward (after a 6-token prefill) of a fresh model in `mode`.
std::vector<Span> decode_spans(AttentionMode mode) {
  const ModelConfig cfg = engine_test::small_config();
  auto model = Model::synthetic(cfg, 3);
  KvCacheOptions o;
  o.mode = mode;
  o.budget_bytes = 16 << 20;
  o.block_size = 16;
  KvCache cache(cfg, o);
  const int32_t seq = cache.pool().add_sequence();
  std::vector<int32_t> prompt = {5, 9, 2, 7, 11, 4};
  std::vector<float> logits;
  model->forward({{seq, prompt.data(), int64_t(prompt.size()), true}}, cache, logits);
  const int32_t tok = 3;
  const fs::path file = fs::temp_directory_path() / ("dsbench_engine_spans_" + std::to_string(::getpid()) + ".json");
  trace::start();
  model->forward({{seq, &tok, 1, true}}, cache, logits);
  trace::stop_and_write(file);
  std::ifstream in(file);
  const nlohmann::json doc = nlohmann::json::parse(in);
  fs::remove(file);
  std::vector<Span> out;
  for (const auto& e : doc.at("traceEvents"))
    if (e.value("ph", "") == "X")
      out.push_back({e.at("name").get<std::string>(), e.at("ts").get<double>(),
                     e.at("ts").get<double>() + e.at("dur").get<double>()});
  std::sort(out.begin(), out.end(), [](const Span& a, const Span& b) { return a.t0 < b.t0; });
  return out;
}

std::vector<const Span*> named(const std::vector<Span>& v, const std::string& name) {
  std::vector<const Span*> r;
  for (const auto& s : v)
    if (s.name == name) r.push_back(&s);
  return r;
}

}  // namespace

TEST(EngineTrace, AbsorbedDecodeShowsEachStagePerLayer) {
  const int64_t layers = engine_test::small_config().num_hidden_layers;
  const auto spans = decode_spans(AttentionMode::kMlaAbsorbed);
  const auto outer = named(spans, "engine/decode_attention");
  ASSERT_EQ(int64_t(outer.size()), layers);
  const char* stages[] = {"engine/absorb_w_uk", "engine/latent_attention", "engine/absorb_w_uv"};
  for (const char* st : stages) ASSERT_EQ(int64_t(named(spans, st).size()), layers) << st;
  for (int64_t l = 0; l < layers; ++l) {
    const Span& o = *outer[size_t(l)];
    double prev_end = o.t0;
    for (const char* st : stages) {
      const Span& s = *named(spans, st)[size_t(l)];
      EXPECT_GE(s.t0, prev_end) << st << " of layer " << l << " starts before the previous stage ended";
      EXPECT_LE(s.t1, o.t1) << st << " of layer " << l << " ends after engine/decode_attention";
      prev_end = s.t1;
    }
  }
  EXPECT_EQ(named(spans, "engine/prefill_attention").size(), 0u);
}

TEST(EngineTrace, OtherModesHaveNoAbsorptionSpans) {
  for (AttentionMode m : {AttentionMode::kMlaNaive, AttentionMode::kMhaCache}) {
    const auto spans = decode_spans(m);
    EXPECT_EQ(int64_t(named(spans, "engine/decode_attention").size()), engine_test::small_config().num_hidden_layers)
        << to_string(m);
    EXPECT_TRUE(named(spans, "engine/absorb_w_uk").empty()) << to_string(m);
    EXPECT_TRUE(named(spans, "engine/latent_attention").empty()) << to_string(m);
  }
}

TEST(EngineTrace, MoeLayersShowTheExpertProductsInOrder) {
  const ModelConfig cfg = engine_test::small_config();
  const int64_t moe_layers = cfg.num_hidden_layers - cfg.first_k_dense_replace;
  ASSERT_GT(moe_layers, 0);
  const auto spans = decode_spans(AttentionMode::kMlaAbsorbed);
  const auto outer = named(spans, "engine/moe");
  const auto gu = named(spans, "engine/moe_gate_up");
  const auto down = named(spans, "engine/moe_down");
  ASSERT_EQ(int64_t(outer.size()), moe_layers);
  ASSERT_EQ(gu.size(), outer.size());
  ASSERT_EQ(down.size(), outer.size());
  for (size_t l = 0; l < outer.size(); ++l) {
    EXPECT_GE(gu[l]->t0, outer[l]->t0) << "MoE layer " << l;
    EXPECT_GE(down[l]->t0, gu[l]->t1) << "MoE layer " << l << ": down starts before gate_up ended";
    EXPECT_LE(down[l]->t1, outer[l]->t1) << "MoE layer " << l;
  }
}
