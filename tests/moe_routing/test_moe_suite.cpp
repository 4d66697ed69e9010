// The moe_routing suite and `dsbench placement`: the quick plan builds, measured benchmarks give
// sane figures, a dense model is refused clearly, the comparison counts combinations exactly, and
// the placement command writes EPLB's outputs or exits 2 naming the bad input.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "dsbench/config.h"
#include "dsbench/error.h"
#include "dsbench/registry.h"
#include "moe_routing/comparison.h"
#include "moe_routing/token_sources.h"

namespace dsbench::suites::moe {
namespace {

using nlohmann::json;

std::vector<Benchmark> quick_plan(const std::string& model, json options = json::object()) {
  static const json host = {{"peak", json::object()}};
  ModelConfig m = load_model(model);
  SuiteContext ctx{m, "cpu", false, "no CUDA device", true, 1234, host, options};
  const SuiteInfo* s = find_suite("moe_routing");
  EXPECT_NE(s, nullptr);
  return s->make(ctx);
}

const Benchmark* find(const std::vector<Benchmark>& v, const std::string& name) {
  for (const auto& b : v)
    if (b.name == name) return &b;
  return nullptr;
}

TEST(MoeSuite, GateConfigFromModels) {
  const auto v3 = gate_config_for(load_model("deepseek-v3"));
  EXPECT_EQ(v3.n_experts, 256);
  EXPECT_EQ(v3.top_k, 8);
  EXPECT_EQ(v3.n_group, 8);
  EXPECT_EQ(v3.topk_group, 4);
  EXPECT_EQ(v3.method, kernels::TopkMethod::kNoAuxTc);
  EXPECT_FLOAT_EQ(v3.routed_scaling_factor, 2.5f);
  const auto lite = gate_config_for(load_model("deepseek-v2-lite"));
  EXPECT_EQ(lite.scoring, kernels::ScoringFunc::kSoftmax);
  EXPECT_EQ(lite.method, kernels::TopkMethod::kGreedy);
  EXPECT_FALSE(lite.norm_topk_prob);
  EXPECT_EQ(moe_layers(load_model("deepseek-v3")).size(), 58u);
}

TEST(MoeSuite, DenseModelIsRefusedNamingIt) {
  try {
    quick_plan("llama-3.3-70b");
    FAIL() << "expected a UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("llama-3.3-70b"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no routed experts"), std::string::npos) << e.what();
  }
}

TEST(MoeSuite, BadOptionsAreRefusedNamingTheField) {
  try {
    quick_plan("dsv3-tiny", {{"gamma", "fast"}});
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("options.gamma"), std::string::npos) << e.what();
  }
  EXPECT_THROW(quick_plan("dsv3-tiny", {{"bogus", 1}}), UsageError);
}

TEST(MoeSuite, QuickPlanHasEveryBenchmarkWithBytesOnTimedOnes) {
  const auto plan = quick_plan("dsv3-tiny");
  for (const char* n : {"balance/random_gate", "balance/zipf", "balance/dirichlet", "balance/drift",
                        "balance/trace", "balancing/aux_free_bias", "routing/node_limit",
                        "placement/eplb", "compare/standard_vs_deepseekmoe", "router/gate",
                        "router/full", "permute/plan", "permute/dispatch", "permute/combine"})
    EXPECT_NE(find(plan, n), nullptr) << n;
  EXPECT_EQ(find(plan, "balance/trace")->skipped.rfind("no routing trace", 0), 0u);
  int router_shapes = 0;
  for (const auto& b : plan) {
    if (b.timed) {
      EXPECT_GT(b.bytes, 0) << b.name;
    }
    if (b.name == "router/gate") ++router_shapes;
  }
  EXPECT_EQ(router_shapes, 2);  // dsv3-tiny and deepseek-v3 shapes
}

TEST(MoeSuite, MeasuredBalanceFiguresAreSane) {
  const auto plan = quick_plan("dsv3-tiny");
  const Measurement gate = find(plan, "balance/random_gate")->measure();
  const Measurement zipf = find(plan, "balance/zipf")->measure();
  ASSERT_FALSE(zipf.samples.empty());
  EXPECT_LT(gate.counters["max_over_mean"].get<double>(),
            zipf.counters["max_over_mean"].get<double>());
  EXPECT_GT(zipf.counters["max_over_mean"].get<double>(), 1.5);
  EXPECT_EQ(zipf.counters["nodes"].get<int>(), 4);  // one group per node
  EXPECT_LE(zipf.counters["nodes_per_token_max"].get<double>(),
            2);  // dsv3-tiny keeps 2 of 4 groups
  ASSERT_TRUE(zipf.data["layers"].is_array());
  const json& L = zipf.data["layers"][0];
  EXPECT_EQ(L["tokens_per_expert"].size(), 32u);
  EXPECT_TRUE(L["ep"].contains("8"));
  const Measurement bal = find(plan, "balancing/aux_free_bias")->measure();
  EXPECT_LE(bal.counters["final_max_over_mean_with_bias"].get<double>(),
            0.5 * bal.counters["final_max_over_mean_without_bias"].get<double>());
  const Measurement pl = find(plan, "placement/eplb")->measure();
  EXPECT_GT(pl.counters["balancedness_after"].get<double>(),
            pl.counters["balancedness_before"].get<double>());
}

TEST(MoeSuite, TraceReplayMatchesTheRecordedCounts) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto path = dir / ("dsbench_trace_" + std::to_string(::getpid()) + ".jsonl");
  {
    std::ofstream f(path);
    f << R"({"format": "dsbench.routing-trace/1", "n_experts": 32, "top_k": 4})"
         "\n";
    for (int rec = 0; rec < 4; ++rec) {
      f << R"({"layer": 1, "ids": [)";
      for (int t = 0; t < 64; ++t) f << (t ? "," : "") << "[0,1,2," << 3 + t % 29 << "]";
      f << "]}\n";
    }
  }
  const auto plan = quick_plan("dsv3-tiny", {{"trace", path.string()}});
  const Benchmark* b = find(plan, "balance/trace");
  ASSERT_TRUE(b->skipped.empty());
  const Measurement m = b->measure();
  // Experts 0..2 take every token: 256 tokens x 3 of 1024 slots; mean 32 per expert -> 8x.
  EXPECT_NEAR(m.counters["max_over_mean"].get<double>(), 8.0, 1e-9);
  std::filesystem::remove(path);
}

TEST(MoeComparison, CombinationCounts) {
  EXPECT_EQ(n_choose_k(16, 2), 120);
  EXPECT_EQ(n_choose_k(256, 8), 409663695276000.0);
  // Brute force: 8 experts in 4 groups of 2, top-3 from at most 2 groups.
  int brute = 0;
  for (int a = 0; a < 8; ++a)
    for (int b = a + 1; b < 8; ++b)
      for (int c = b + 1; c < 8; ++c) {
        const int groups = (1 << a / 2) | (1 << b / 2) | (1 << c / 2);
        brute += __builtin_popcount(groups) <= 2;
      }
  EXPECT_EQ(group_limited_combinations(8, 3, 4, 2), brute);
  EXPECT_EQ(group_limited_combinations(256, 8, 8, 8), n_choose_k(256, 8));
  EXPECT_LT(group_limited_combinations(256, 8, 8, 4), n_choose_k(256, 8));
}

// ---- dsbench placement ------------------------------------------------------------------------

struct CliResult {
  int code;
  std::string out;
};
CliResult run_cli(const std::string& args) {
  const std::string cmd = std::string(DSBENCH_EXE) + " placement " + args + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p.get())) > 0) out.append(buf.data(), n);
  const int status = pclose(p.release());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class PlacementCli : public ::testing::Test {
 protected:
  std::filesystem::path loads_ = std::filesystem::temp_directory_path() /
                                 ("dsbench_place_" + std::to_string(::getpid()) + ".json");
  void SetUp() override {
    std::ofstream(loads_) << "[[90,132,40,61,104,165,39,4,73,56,183,86],"
                             "[20,107,104,64,19,197,187,157,172,86,16,27]]";
  }
  void TearDown() override { std::filesystem::remove(loads_); }
};

TEST_F(PlacementCli, JsonHasEplbOutputs) {
  const CliResult r =
      run_cli("--load " + loads_.string() + " --replicas 16 --groups 4 --nodes 2 --gpus 8 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["phy2log"][0], json({5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1}));
  EXPECT_EQ(j["logcnt"][0].size(), 12u);
  EXPECT_EQ(j["log2phy"][0].size(), 12u);
  EXPECT_EQ(j["policy"], "hierarchical");
  EXPECT_GT(j["mean_balancedness_after"].get<double>(),
            j["mean_balancedness_before"].get<double>());
}

TEST_F(PlacementCli, TextReportAndBadInputExitTwo) {
  CliResult r =
      run_cli("--load " + loads_.string() + " --replicas 16 --groups 4 --nodes 2 --gpus 8");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("balancedness before"), std::string::npos) << r.out;
  r = run_cli("--load " + loads_.string() + " --replicas 18 --groups 4 --nodes 2 --gpus 8");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--replicas"), std::string::npos) << r.out;
  r = run_cli("--load /nonexistent/loads.json --replicas 16 --gpus 8");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("/nonexistent/loads.json"), std::string::npos) << r.out;
  r = run_cli("--load " + loads_.string() + " --gpus 8");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("replicas"), std::string::npos) << r.out;
  std::ofstream(loads_) << "[[1, 2], [3, \"x\"]]";
  r = run_cli("--load " + loads_.string() + " --replicas 2 --gpus 1");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("load matrix[1][1]"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace dsbench::suites::moe
