// The quick plan of every suite through the real executable: a valid result with measured
// benchmarks in each suite, nothing failed, and skips only with a stated reason.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "dsbench/results.h"

namespace {
namespace fs = std::filesystem;

int run(const std::string& args, std::string* output) {
  std::string cmd = std::string(DSBENCH_EXE) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(QuickPlan, EverySuiteRunsAndWritesAValidResult) {
  fs::path dir = fs::path(DSBENCH_BINARY_DIR) / "test-output";
  fs::create_directories(dir);
  fs::path out = dir / "quick.json";
  fs::path trace = dir / "quick.trace.json";
  fs::remove(out);
  std::string output;
  int code = run("run --plan suites/plans/quick.json --device cpu --quiet --out " + out.string() +
                     " --trace " + trace.string(),
                 &output);
  ASSERT_EQ(code, 0) << output;
  nlohmann::json j = dsbench::load_result_file(out);
  std::set<std::string> suites;
  for (const auto& s : j["suites"]) {
    suites.insert(s["name"].get<std::string>());
    int measured = 0;
    for (const auto& b : s["benchmarks"]) {
      if (b["skipped"].is_null()) {
        ++measured;
        EXPECT_FALSE(b["samples"].empty()) << s["name"] << "/" << b["name"];
      } else {
        std::string why = b["skipped"].get<std::string>();
        EXPECT_EQ(why.rfind("failed", 0), std::string::npos) << s["name"] << "/" << b["name"] << ": " << why;
        EXPECT_FALSE(why.empty());
      }
    }
    EXPECT_GT(measured, 0) << "suite " << s["name"] << " measured nothing";
  }
  for (const char* want : {"kv_cache", "moe_routing", "e2e", "serving"}) {
    EXPECT_TRUE(suites.count(want)) << want << " missing from the quick plan";
  }
  EXPECT_GT(j["host"]["peak"]["read_gbps"].get<double>(), 0);
  ASSERT_TRUE(fs::exists(trace));
  nlohmann::json trace_doc;
  EXPECT_NO_THROW(trace_doc = nlohmann::json::parse(std::ifstream(trace)));
  EXPECT_FALSE(trace_doc.is_null());
  ASSERT_EQ(j["traces"].size(), 1u);
}

// A filter that keeps MLA-absorbed but not MHA: the derived MLA-vs-MHA ratio cannot be computed.
// It is a skip with a reason naming what it needs, not a failure, and the run exits 0.
TEST(QuickPlan, DerivedRatioWhoseInputsAreFilteredOutIsSkippedNotFailed) {
  fs::path dir = fs::path(DSBENCH_BINARY_DIR) / "test-output";
  fs::create_directories(dir);
  fs::path out = dir / "quick_filtered_ratio.json";
  fs::remove(out);
  std::string output;
  int code = run("run --suite kv_cache --model dsv3-tiny --quick --device cpu --quiet --filter "
                 "'decode_attention/mla_absorbed' --out " + out.string(),
                 &output);
  ASSERT_EQ(code, 0) << output;
  nlohmann::json j = dsbench::load_result_file(out);
  int ratios = 0, measured = 0;
  for (const auto& b : j["suites"][0]["benchmarks"]) {
    if (b["name"] == "decode_attention/mla_absorbed_vs_mha") {
      ++ratios;
      ASSERT_TRUE(b["skipped"].is_string()) << b.dump();
      const std::string why = b["skipped"].get<std::string>();
      EXPECT_EQ(why.rfind("failed", 0), std::string::npos) << why;
      EXPECT_NE(why.find("decode_attention/mha"), std::string::npos) << why;
      EXPECT_EQ(why.find("decode_attention/mla_absorbed"), std::string::npos) << "it was measured: " << why;
      EXPECT_NE(why.find("--filter"), std::string::npos) << why;
      EXPECT_TRUE(b["samples"].empty());
    } else if (b["skipped"].is_null()) {
      ++measured;
      EXPECT_EQ(b["name"], "decode_attention/mla_absorbed");
    }
  }
  EXPECT_GT(ratios, 0);
  EXPECT_GT(measured, 0);
}

}  // namespace
