// The e2e suite's quick plan: every benchmark runs and reports its counters, decode rows carry
// tokens_per_s and roofline_fraction, and MLA's concurrency advantage is measured from the allocator.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "dsbench/config.h"
#include "dsbench/registry.h"
#include "e2e/e2e_common.h"

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

// decode_speedup pairs batch 1 and batch B round by round. Here the host "slows down" every
// round, by the same factor for both sides of a round: each sample is still exactly
// B x t1 / tB. Timing all batch-1 rounds before the batch-B ones would give other samples.
TEST(E2eSuite, DecodeSpeedupPairsBatchOneAndBatchBRoundByRound) {
  const int64_t batch = 8, steps = 3;
  const int rounds = 4;
  int64_t n_one = 0, n_many = 0;  // calls so far, two warm-ups first
  auto round_now = [&] {
    const int64_t done = std::min(std::max<int64_t>(0, n_one - 2), std::max<int64_t>(0, n_many - 2));
    return double(done / steps);
  };
  auto one = [&](engine::ForwardStats* fs) {
    const double t = 0.002 * (1.0 + round_now());
    ++n_one;
    if (fs) fs->weight_bytes_read = 1e6;
    return t;
  };
  auto many = [&](engine::ForwardStats* fs) {
    const double t = 0.004 * (1.0 + round_now());
    ++n_many;
    if (fs) fs->weight_bytes_read = 3e6;
    return t;
  };
  const Measurement m = suites::e2e::paired_decode_speedup(batch, rounds, steps, one, many);
  EXPECT_EQ(n_one, 2 + rounds * steps);
  EXPECT_EQ(n_many, 2 + rounds * steps);
  ASSERT_EQ(m.samples.size(), size_t(rounds));
  for (double x : m.samples) EXPECT_DOUBLE_EQ(x, double(batch) * 0.002 / 0.004);
  EXPECT_DOUBLE_EQ(m.counters.at("bytes_ratio").get<double>(), 3.0);
  EXPECT_EQ(m.counters.at("rounds").get<int>(), rounds);
  EXPECT_THROW(suites::e2e::paired_decode_speedup(batch, 0, steps, one, many), std::exception);
}

TEST(E2eSuite, DecodeSpeedupRunsBothBatchesOnTheEngine) {
  auto r = run_quick("dsv3-tiny", "decode_speedup");
  ASSERT_GE(r.by_name["decode_speedup"].size(), 1u);
  for (auto& [params, m] : r.by_name["decode_speedup"]) {
    ASSERT_GT(params["batch"].get<int64_t>(), 1);
    ASSERT_EQ(m.samples.size(), size_t(m.counters["rounds"].get<int>()));
    for (double x : m.samples) EXPECT_GT(x, 0.0);
    EXPECT_GT(m.counters["tokens_per_s"].get<double>(), 0.0);
    EXPECT_GT(m.counters["tokens_per_s_batch1"].get<double>(), 0.0);
    // A larger batch touches more routed experts: more bytes per step.
    EXPECT_GT(m.counters["bytes_ratio"].get<double>(), 1.0);
  }
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
