// The e2e suite's quick plan: every benchmark runs and reports its counters, decode rows carry
// tokens_per_s and roofline_fraction, and MLA's concurrency advantage is measured from the allocator.
#include <gtest/gtest.h>

#include <map>

#include "dsbench/config.h"
#include "dsbench/registry.h"

using namespace dsbench;

namespace {
struct Run {
  std::map<std::string, std::vector<std::pair<nlohmann::json, Measurement>>> by_name;
};

Run run_quick(const std::string& model, const std::string& filter_name = "") {
  const SuiteInfo* s = find_suite("e2e");
  EXPECT_NE(s, nullptr);
  ModelConfig cfg = load_model(model);
  nlohmann::json host = {{"peak", {{"read_gbps", 10.0}, {"fma_gflops", 100.0}}}};
  SuiteContext ctx{cfg, "cpu", false, "no CUDA device", true, 7, host};
  Run r;
  for (auto& b : s->make(ctx)) {
    if (!filter_name.empty() && b.name != filter_name) continue;
    if (!b.skipped.empty() || !b.measure) continue;
    r.by_name[b.name].push_back({b.params, b.measure()});
  }
  return r;
}
}  // namespace

TEST(E2eSuite, QuickPlanHasEveryBenchmarkKind) {
  const SuiteInfo* s = find_suite("e2e");
  ASSERT_NE(s, nullptr);
  ModelConfig cfg = load_model("dsv3-tiny");
  nlohmann::json host = {{"peak", {{"read_gbps", 10.0}}}};
  SuiteContext ctx{cfg, "cpu", false, "no CUDA device", true, 7, host};
  std::map<std::string, int> names;
  for (auto& b : s->make(ctx)) {
    ++names[b.name];
    EXPECT_TRUE(b.skipped.empty()) << b.name << ": " << b.skipped;
    EXPECT_EQ(int(bool(b.measure)) + int(bool(b.timed)) + int(bool(b.derive)), 1) << b.name;
  }
  for (const char* n : {"prefill", "decode", "decode_speedup", "offline", "cache_bytes_per_token", "max_concurrency",
                        "gemm"})
    EXPECT_GT(names[n], 0) << n;
}

// decode_speedup is batch x (batch-1 step time / batch-B step time), sample by sample, from the
// decode records of the same run; without them it fails naming what it needs.
TEST(E2eSuite, DecodeSpeedupIsDerivedFromTheDecodeRecords) {
  const SuiteInfo* s = find_suite("e2e");
  ASSERT_NE(s, nullptr);
  ModelConfig cfg = load_model("dsv3-tiny");
  nlohmann::json host = {{"peak", {{"read_gbps", 10.0}}}};
  SuiteContext ctx{cfg, "cpu", false, "no CUDA device", true, 7, host};
  std::vector<BenchmarkRecord> earlier;
  Benchmark speedup;
  for (auto& b : s->make(ctx)) {
    if (b.name == "decode") {
      BenchmarkRecord r;
      r.name = b.name;
      r.params = b.params;
      const double batch = double(b.params["batch"].get<int64_t>());
      r.samples = batch == 1 ? std::vector<double>{0.002, 0.004} : std::vector<double>{0.004, 0.004};
      r.counters = {{"tokens_per_s", batch / r.samples[0]}, {"bytes", 1e6 * batch}};
      earlier.push_back(r);
    }
    if (b.name == "decode_speedup") speedup = b;
  }
  ASSERT_TRUE(bool(speedup.derive));
  const int64_t batch = speedup.params["batch"].get<int64_t>();
  ASSERT_GT(batch, 1);
  const Measurement m = speedup.derive(earlier);
  ASSERT_EQ(m.samples.size(), 2u);
  EXPECT_DOUBLE_EQ(m.samples[0], double(batch) * 0.002 / 0.004);
  EXPECT_DOUBLE_EQ(m.samples[1], double(batch) * 0.004 / 0.004);
  EXPECT_DOUBLE_EQ(m.counters.at("bytes_ratio").get<double>(), double(batch));
  earlier.erase(earlier.begin());  // batch 1 gone
  EXPECT_THROW(speedup.derive(earlier), std::exception);
}

TEST(E2eSuite, DecodeReportsTokensPerSecondAndRoofline) {
  auto r = run_quick("dsv3-tiny", "decode");
  ASSERT_GE(r.by_name["decode"].size(), 2u);
  for (auto& [params, m] : r.by_name["decode"]) {
    ASSERT_TRUE(params.contains("batch"));
    EXPECT_FALSE(m.samples.empty());
    EXPECT_GT(m.counters["tokens_per_s"].get<double>(), 0.0);
    EXPECT_GT(m.counters["roofline_fraction"].get<double>(), 0.0);
    // Bytes count the experts this batch touched: at least top-k per MoE layer, at most all.
    EXPECT_GE(m.counters["experts_touched"].get<double>(), 3 * 4);
    EXPECT_LE(m.counters["experts_touched"].get<double>(), 3 * 32);
  }
}

TEST(E2eSuite, MlaHoldsTenTimesTheContextOfMhaForDeepSeekV3) {
  auto r = run_quick("dsv3-tiny", "max_concurrency");
  std::map<std::string, double> tokens;
  for (auto& [params, m] : r.by_name["max_concurrency"])
    if (params["model"] == "deepseek-v3") tokens[params["mode"].get<std::string>()] = m.counters["concurrent_tokens"];
  ASSERT_EQ(tokens.size(), 3u);
  ASSERT_GT(tokens["mha_cache"], 0.0);
  EXPECT_GE(tokens["mla_absorbed"] / tokens["mha_cache"], 10.0);
  EXPECT_EQ(tokens["mla_absorbed"], tokens["mla_naive"]);  // both cache the latent only
}

TEST(E2eSuite, OfflineCompletesEveryRequestWithPercentiles) {
  auto r = run_quick("dsv3-tiny", "offline");
  ASSERT_EQ(r.by_name["offline"].size(), 1u);
  auto& [params, m] = r.by_name["offline"][0];
  EXPECT_EQ(m.counters["completed"].get<double>(), params["requests"].get<double>());
  EXPECT_LE(m.counters["ttft_p50_s"].get<double>(), m.counters["ttft_p99_s"].get<double>());
  EXPECT_GT(m.counters["output_tokens_per_s"].get<double>(), 0.0);
}

TEST(E2eSuite, NonMlaModelIsSkippedWithAReason) {
  const SuiteInfo* s = find_suite("e2e");
  ModelConfig cfg = load_model("llama-3.3-70b");
  nlohmann::json host = nlohmann::json::object();
  SuiteContext ctx{cfg, "cpu", false, "no CUDA device", true, 7, host};
  int skipped = 0;
  for (auto& b : s->make(ctx))
    if (b.name == "decode") {
      EXPECT_NE(b.skipped.find("MLA"), std::string::npos) << b.skipped;
      ++skipped;
    }
  EXPECT_GT(skipped, 0);
}
