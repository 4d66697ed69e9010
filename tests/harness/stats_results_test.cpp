// Statistics known answers, result serialisation round trips, validation and atomic writes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "dsbench/config.h"
#include "dsbench/error.h"
#include "dsbench/host.h"
#include "dsbench/results.h"
#include "dsbench/stats.h"

namespace dsbench {
namespace {
namespace fs = std::filesystem;

TEST(Stats, KnownAnswers) {
  Stats s = compute_stats({4, 1, 3, 2, 5});
  EXPECT_DOUBLE_EQ(s.median, 3);
  EXPECT_DOUBLE_EQ(s.mean, 3);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 5);
  EXPECT_NEAR(s.stddev, std::sqrt(2.5), 1e-12);  // sample standard deviation
  EXPECT_NEAR(s.cv, std::sqrt(2.5) / 3, 1e-12);
  EXPECT_DOUBLE_EQ(s.p10, 1.4);
  EXPECT_DOUBLE_EQ(s.p90, 4.6);
  EXPECT_EQ(s.n, 5);
  EXPECT_DOUBLE_EQ(compute_stats({1, 2, 3, 4}).median, 2.5);
  EXPECT_EQ(compute_stats({}).n, 0);
}

// The median's distribution-free 95% interval, against the published order-statistic table
// (e.g. Conover, Practical Nonparametric Statistics): n = 10 -> ranks 2..9 (97.9%), n = 20 ->
// 6..15 (95.9%), n = 100 -> 40..61 (96.5%). Below 6 samples no interval reaches 95%.
TEST(Stats, MedianConfidenceIntervalFromOrderStatistics) {
  struct Row {
    long n, k;
    double level;
  };
  for (const Row& r : {Row{10, 2, 0.97852}, Row{20, 6, 0.95861}, Row{100, 40, 0.96480},
                       Row{6, 1, 0.96875}, Row{5, 1, 0.93750}, Row{2, 1, 0.5}, Row{1, 1, 0.0}}) {
    const MedianRank m = median_ci_rank(r.n);
    EXPECT_EQ(m.k, r.k) << "n = " << r.n;
    EXPECT_NEAR(m.level, r.level, 5e-5) << "n = " << r.n;
  }
  // Ten samples 1..10 (shuffled): the interval is [x(2), x(9)] = [2, 9], median 5.5.
  Stats s = compute_stats({7, 2, 9, 4, 10, 1, 5, 3, 8, 6});
  EXPECT_DOUBLE_EQ(s.median_ci_low, 2);
  EXPECT_DOUBLE_EQ(s.median_ci_high, 9);
  EXPECT_NEAR(s.median_ci_level, 0.97852, 5e-5);
  EXPECT_DOUBLE_EQ(s.noise, (9.0 - 2.0) / (2 * 5.5));
  // One wild outlier does not move it: the interval ignores the extremes that the stddev
  // (and cv) absorb.
  Stats o = compute_stats({1.00, 1.01, 0.99, 1.00, 1.02, 0.98, 1.00, 1.01, 0.99, 50.0});
  EXPECT_LT(o.noise, 0.02);
  EXPECT_GT(o.cv, 2.0);
  Stats one = compute_stats({3.0});
  EXPECT_DOUBLE_EQ(one.median_ci_level, 0.0);
  EXPECT_DOUBLE_EQ(one.noise, 0.0);
}

TEST(Roofline, IdealOverMeasured) {
  // 10 GB at 10 GB/s = 1 s ideal; measured 2 s -> 0.5. Compute-bound case uses FLOPs.
  EXPECT_DOUBLE_EQ(roofline_fraction(2.0, 10e9, 0, 10, 100), 0.5);
  EXPECT_DOUBLE_EQ(roofline_fraction(4.0, 1e9, 200e9, 10, 100), 0.5);
  EXPECT_DOUBLE_EQ(roofline_fraction(1.0, 1e9, 1e9, 0, 0), 0.0);
}

RunRecord sample_run() {
  RunRecord r;
  r.run_id = "r1";
  r.started_at = r.finished_at = utc_now_iso8601();
  r.command = "dsbench run";
  r.host = {{"cpu", "x"}, {"peak", {{"read_gbps", 10.0}}}};
  SuiteRecord s{"kv_cache", "dsv3-tiny", "cpu", {}};
  BenchmarkRecord b;
  b.name = "decode_attention/mla_absorbed";
  b.params = {{"context", 4096}, {"batch", 1}};
  b.samples = {1e-3, 2e-3, 3e-3};
  b.stats = compute_stats(b.samples);
  b.counters = {{"bytes", 1e6}, {"nan_counter", std::nan("")}};
  s.benchmarks.push_back(b);
  BenchmarkRecord sk;
  sk.name = "decode_attention/cuda";
  sk.skipped = "no CUDA device";
  s.benchmarks.push_back(sk);
  r.suites.push_back(s);
  return r;
}

TEST(Results, RoundTripAndValidate) {
  nlohmann::json j = sample_run().to_json();
  EXPECT_EQ(j["schema"], "dsbench.result/1");
  EXPECT_NO_THROW(validate_result(j, "mem"));
  const auto& b = j["suites"][0]["benchmarks"][0];
  EXPECT_EQ(b["samples"].size(), 3u);
  EXPECT_EQ(b["direction"], "lower");
  EXPECT_DOUBLE_EQ(b["stats"]["median"].get<double>(), 2e-3);
  EXPECT_TRUE(b["counters"]["nan_counter"].is_null()) << "non-finite numbers become null";
  EXPECT_EQ(j["suites"][0]["benchmarks"][1]["skipped"], "no CUDA device");
  EXPECT_TRUE(j["suites"][0]["benchmarks"][1]["samples"].empty());
}

TEST(Results, ValidationNamesTheField) {
  nlohmann::json base = sample_run().to_json();
  auto expect_error = [](const nlohmann::json& j, const std::string& field) {
    try {
      validate_result(j, "run.json");
      ADD_FAILURE() << "accepted a bad document; expected an error about " << field;
    } catch (const UsageError& e) {
      std::string w = e.what();
      EXPECT_NE(w.find("run.json"), std::string::npos) << w;
      EXPECT_NE(w.find(field), std::string::npos) << w;
    }
  };
  auto j = base;
  j["schema"] = "dsbench.result/0";
  expect_error(j, "schema");
  j = base;
  j["suites"][0]["benchmarks"][0]["samples"] = "fast";
  expect_error(j, "suites[0].benchmarks[0].samples");
  j = base;
  j["suites"][0]["benchmarks"][0]["samples"] = {1, "x"};
  expect_error(j, "suites[0].benchmarks[0].samples");
  j = base;
  j["suites"][0]["benchmarks"][0]["direction"] = "sideways";
  expect_error(j, "suites[0].benchmarks[0].direction");
  j = base;
  j["suites"][0]["benchmarks"][0].erase("params");
  expect_error(j, "suites[0].benchmarks[0].params");
  j = base;
  j.erase("suites");
  expect_error(j, "suites");
}

TEST(Results, TruncatedFileIsRejectedWithItsName) {
  fs::path p = fs::temp_directory_path() / "dsbench_truncated.json";
  std::string text = sample_run().to_json().dump();
  std::ofstream(p) << text.substr(0, text.size() / 2);
  try {
    load_result_file(p);
    ADD_FAILURE() << "truncated file accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
  }
  fs::remove(p);
}

TEST(Results, AtomicWriteLeavesNoTemporaryAndReplacesWhole) {
  fs::path dir = fs::temp_directory_path() / "dsbench_atomic_test";
  fs::remove_all(dir);
  fs::path p = dir / "sub" / "run.json";
  write_json_atomic(p, sample_run().to_json());
  write_json_atomic(p, sample_run().to_json());
  EXPECT_NO_THROW(load_result_file(p));
  int files = 0;
  for (auto& e : fs::recursive_directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1) << "no temporary file may remain";
  // A destination that cannot be replaced (a directory) fails without touching it.
  fs::create_directories(dir / "blocked.json");
  EXPECT_THROW(write_json_atomic(dir / "blocked.json", {{"a", 1}}), Error);
  EXPECT_TRUE(fs::is_directory(dir / "blocked.json"));
  fs::remove_all(dir);
}

TEST(Results, PartialLogKeepsEachBenchmarkUntilFinished) {
  fs::path p = fs::temp_directory_path() / "dsbench_partial_run.json";
  RunRecord r = sample_run();
  {
    PartialLog log(p);
    log.append("kv_cache", r.suites[0].benchmarks[0]);
    log.append("kv_cache", r.suites[0].benchmarks[1]);
    std::ifstream in(log.path());
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line);
      EXPECT_EQ(j["suite"], "kv_cache");
      ++n;
    }
    EXPECT_EQ(n, 2);
    log.finish();
    EXPECT_FALSE(fs::exists(log.path()));
  }
}

TEST(Results, BenchmarkKeyIsCanonical) {
  nlohmann::json a = {{"batch", 1}, {"context", 2}};
  nlohmann::json b = {{"context", 2}, {"batch", 1}};
  EXPECT_EQ(benchmark_key("s", "n", a), benchmark_key("s", "n", b));
  EXPECT_NE(benchmark_key("s", "n", a), benchmark_key("s", "n", {{"batch", 2}, {"context", 2}}));
}

}  // namespace
}  // namespace dsbench
