// Model config loading: known shapes from REFERENCE.md and malformed configs named precisely.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "dsbench/config.h"
#include "dsbench/error.h"

namespace dsbench {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DeepSeekV3Shape) {
  ModelConfig c = load_model("deepseek-v3");
  EXPECT_TRUE(c.is_mla());
  EXPECT_EQ(c.hidden_size, 7168);
  EXPECT_EQ(c.num_hidden_layers, 61);
  EXPECT_EQ(c.num_attention_heads, 128);
  EXPECT_EQ(c.q_lora_rank, 1536);
  EXPECT_EQ(c.kv_lora_rank, 512);
  EXPECT_EQ(c.qk_head_dim(), 192);
  EXPECT_EQ(c.v_head_dim, 128);
  EXPECT_EQ(c.n_routed_experts, 256);
  EXPECT_EQ(c.num_experts_per_tok, 8);
  EXPECT_EQ(c.n_group, 8);
  EXPECT_EQ(c.topk_group, 4);
  EXPECT_EQ(c.first_k_dense_replace, 3);
  EXPECT_DOUBLE_EQ(c.routed_scaling_factor, 2.5);
  EXPECT_EQ(c.scoring_func, "sigmoid");
  EXPECT_EQ(c.topk_method, "noaux_tc");
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_EQ(c.vocab_size, 129280);
  EXPECT_EQ(c.rope_scaling.type, "yarn");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 40);
  EXPECT_FALSE(c.is_moe_layer(2));
  EXPECT_TRUE(c.is_moe_layer(3));
  // mscale = 0.1 * 1.0 * ln(40) + 1; softmax scale = 192^-0.5 * mscale^2.
  double m = 0.1 * std::log(40.0) + 1.0;
  EXPECT_NEAR(c.yarn_mscale(), m, 1e-12);
  EXPECT_NEAR(c.softmax_scale(), m * m / std::sqrt(192.0), 1e-12);
}

TEST(Config, EveryShippedConfigLoads) {
  auto names = list_models();
  for (const char* want : {"deepseek-v3", "deepseek-r1", "deepseek-v2-lite", "kimi-k2",
                           "llama-3.3-70b", "qwen2.5-72b", "dsv3-tiny"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  for (const auto& n : names) EXPECT_NO_THROW(load_model(n)) << n;
}

TEST(Config, OtherReferenceShapes) {
  ModelConfig lite = load_model("deepseek-v2-lite");
  EXPECT_EQ(lite.q_lora_rank, 0);  // null: no query compression
  EXPECT_EQ(lite.n_routed_experts, 64);
  EXPECT_EQ(lite.n_shared_experts, 2);
  EXPECT_EQ(lite.num_experts_per_tok, 6);
  EXPECT_EQ(lite.scoring_func, "softmax");
  EXPECT_FALSE(lite.norm_topk_prob);
  ModelConfig kimi = load_model("kimi-k2");
  EXPECT_EQ(kimi.n_routed_experts, 384);
  EXPECT_EQ(kimi.num_attention_heads, 64);
  EXPECT_NEAR(kimi.routed_scaling_factor, 2.827, 1e-12);
  ModelConfig llama = load_model("llama-3.3-70b");
  EXPECT_FALSE(llama.is_mla());
  EXPECT_EQ(llama.num_key_value_heads, 8);
  EXPECT_EQ(llama.head_dim, 128);
  EXPECT_EQ(llama.num_hidden_layers, 80);
  ModelConfig qwen = load_model("qwen2.5-72b");
  EXPECT_EQ(qwen.head_dim, 128);  // derived: 8192 / 64
  EXPECT_EQ(qwen.vocab_size, 152064);
}

TEST(Config, TinyKeepsTheDeepSeekV3Features) {
  ModelConfig t = load_model("dsv3-tiny");
  EXPECT_TRUE(t.is_mla());
  EXPECT_GT(t.q_lora_rank, 0);
  EXPECT_GT(t.qk_rope_head_dim, 0);
  EXPECT_GE(t.first_k_dense_replace, 1);
  EXPECT_GT(t.num_hidden_layers, t.first_k_dense_replace);
  EXPECT_GE(t.n_shared_experts, 1);
  EXPECT_GT(t.n_group, 1);
  EXPECT_GE(t.n_routed_experts, 10);
  EXPECT_EQ(t.topk_method, "noaux_tc");
}

TEST(Config, UnknownModelIsNamed) {
  std::string e = error_of([] { load_model("deepseek-v9"); });
  EXPECT_NE(e.find("deepseek-v9"), std::string::npos) << e;
  EXPECT_NE(e.find("deepseek-v3"), std::string::npos) << "lists the known models: " << e;
}

class BadConfig : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& text) {
    // Named by process and test: ctest runs each test in its own process, two at a time, and
    // a name from gtest's random seed (the clock's milliseconds) let two tests share a file,
    // one deleting it under the other.
    auto p = std::filesystem::temp_directory_path() /
             ("dsbench_cfg_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
              std::to_string(counter_++) + ".json");
    std::ofstream(p) << text;
    files_.push_back(p);
    return p;
  }
  void TearDown() override {
    for (auto& f : files_) std::filesystem::remove(f);
  }
  std::vector<std::filesystem::path> files_;
  int counter_ = 0;
};

TEST_F(BadConfig, MalformedJsonNamesTheFile) {
  auto p = write("{\"hidden_size\": 7168,");
  std::string e = error_of([&] { load_model(p.string()); });
  EXPECT_NE(e.find(p.string()), std::string::npos) << e;
  EXPECT_NE(e.find("malformed JSON"), std::string::npos) << e;
}

TEST_F(BadConfig, MissingFieldNamesFileAndField) {
  nlohmann::json j = read_json_file(models_dir() / "deepseek-v3.json");
  j.erase("num_hidden_layers");
  auto p = write(j.dump());
  std::string e = error_of([&] { load_model(p.string()); });
  EXPECT_NE(e.find(p.string()), std::string::npos) << e;
  EXPECT_NE(e.find("num_hidden_layers"), std::string::npos) << e;
  EXPECT_NE(e.find("missing"), std::string::npos) << e;
}

TEST_F(BadConfig, WrongTypesAndValuesAreNamed) {
  nlohmann::json base = read_json_file(models_dir() / "deepseek-v3.json");
  struct Case {
    const char* field;
    nlohmann::json value;
  } cases[] = {{"hidden_size", "7168"},    {"hidden_size", -1},
               {"kv_lora_rank", 1.5},      {"n_group", 7},
               {"topk_group", 9},          {"scoring_func", "relu"},
               {"topk_method", "random"},  {"num_experts_per_tok", 300},
               {"num_key_value_heads", 3}, {"norm_topk_prob", "yes"}};
  for (const auto& c : cases) {
    nlohmann::json j = base;
    j[c.field] = c.value;
    auto p = write(j.dump());
    std::string e = error_of([&] { load_model(p.string()); });
    EXPECT_NE(e.find(c.field), std::string::npos) << c.field << " -> " << e;
    EXPECT_NE(e.find(p.string()), std::string::npos) << e;
  }
}

TEST_F(BadConfig, NotAnObjectAndMissingFile) {
  auto p = write("[1, 2, 3]");
  EXPECT_NE(error_of([&] { load_model(p.string()); }).find("expected a JSON object"),
            std::string::npos);
  EXPECT_NE(error_of([] { load_model("/nonexistent/dir/config.json"); }).find("no such config file"),
            std::string::npos);
}

}  // namespace
}  // namespace dsbench
