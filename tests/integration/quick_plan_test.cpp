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

}  // namespace
