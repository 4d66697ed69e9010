// Change points and the nightly history: a level shift is found where it happened, noise alone
// is not reported, and the history command orders runs by started_at and survives bad files.
#include <gtest/gtest.h>

#include <cstdio>

#include "dsbench/reports/change_points.h"
#include "dsbench/reports/history.h"
#include "dsbench/results.h"
#include "fixtures.h"

namespace dsbench::reports {
namespace {
using nlohmann::json;

std::vector<double> series(uint64_t seed, int n, int step_at, double step, double noise) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, noise);
  std::vector<double> y;
  for (int i = 0; i < n; ++i) y.push_back((i >= step_at ? 1.0 + step : 1.0) * std::exp(z(rng)));
  return y;
}

TEST(ChangePoints, ExactFitOfCleanSteps) {
  std::vector<double> y = {1, 1, 1, 1, 2, 2, 2, 2, 2, 5, 5, 5};
  StepFit f = fit_steps_l1(y, 0.5);
  EXPECT_EQ(f.starts, (std::vector<size_t>{0, 4, 9}));
  EXPECT_EQ(f.levels, (std::vector<double>{1, 2, 5}));
  // A penalty larger than any saving keeps one segment.
  EXPECT_EQ(fit_steps_l1(y, 1e9).starts, std::vector<size_t>{0});
}

TEST(ChangePoints, NoiselessSeriesHasNone) {
  EXPECT_TRUE(detect_change_points(std::vector<double>(30, 70272.0)).empty());
  std::vector<double> y(30, 70272.0);
  for (size_t i = 15; i < y.size(); ++i) y[i] = 80000.0;
  EXPECT_EQ(detect_change_points(y), std::vector<size_t>{15});
}

TEST(ChangePoints, TenPercentStepInThreePercentNoise) {
  int exact = 0, near = 0, false_alarms = 0;
  const int trials = 100;
  for (int t = 0; t < trials; ++t) {
    auto cps = detect_change_points(series(100 + t, 40, 20, 0.10, 0.03));
    if (cps.size() == 1 && cps[0] == 20) ++exact;
    if (!cps.empty() && std::llabs(long(cps[0]) - 20) <= 2) ++near;
    auto flat = detect_change_points(series(1000 + t, 40, 40, 0.0, 0.03));
    if (!flat.empty()) ++false_alarms;
  }
  std::printf("[rates] step found within 2 runs %d/%d (exactly %d), flat series flagged %d/%d\n",
              near, trials, exact, false_alarms, trials);
  EXPECT_GE(near, 90);
  EXPECT_LE(false_alarms, 10);
}

TEST(ChangePoints, SingleOutlierIsNotAStep) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    auto y = series(seed, 30, 30, 0.0, 0.01);
    y[12] *= 1.5;
    EXPECT_TRUE(detect_change_points(y).empty()) << "seed " << seed;
  }
  // Two nights at a new level at the end are a step.
  auto y = series(4, 30, 28, 0.2, 0.01);
  EXPECT_EQ(detect_change_points(y), std::vector<size_t>{28});
}

TEST(ChangePoints, MinimumSegmentLength) {
  std::vector<double> y = {1, 1, 1, 5, 1, 1, 1};
  EXPECT_EQ(fit_steps_l1(y, 0.1, 1).starts, (std::vector<size_t>{0, 3, 4}));
  EXPECT_EQ(fit_steps_l1(y, 0.1, 2).starts, std::vector<size_t>{0});
}

TEST(History, OrdersByStartedAtAndMarksChanges) {
  auto dir = test::scratch_dir("history");
  std::mt19937_64 rng(5);
  for (int i = 0; i < 24; ++i) {
    char ts[32];
    std::snprintf(ts, sizeof ts, "2026-11-%02dT02:00:00Z", i + 1);
    double t = i >= 16 ? 1.2e-3 : 1.0e-3;       // a 20% slowdown from night 17
    double tok = i >= 8 ? 1100.0 : 1000.0;      // a 10% speed-up from night 9
    json run = test::make_run(
        "night" + std::to_string(i),
        {test::make_suite("kv_cache", {test::make_bench("decode", {{"context", 4096}},
                                                        test::lognormal_samples(rng, t, 0.02, 5))}),
         test::make_suite("e2e", {test::make_bench("decode", {{"batch", 1}},
                                                   test::lognormal_samples(rng, tok, 0.02, 5),
                                                   "tokens/s", "higher")})},
        ts);
    // File names deliberately not in time order.
    write_json_atomic(dir / ("run-" + std::to_string(97 - i) + ".json"), run);
  }
  test::write_file(dir / "truncated.json", "{\"schema\": \"dsbench.result/1\", \"run_id\": ");
  History h = load_history(dir);
  ASSERT_EQ(h.runs.size(), 24u);
  EXPECT_EQ(h.runs.front().run_id, "night0");
  EXPECT_EQ(h.runs.back().run_id, "night23");
  ASSERT_EQ(h.warnings.size(), 1u);
  EXPECT_NE(h.warnings[0].find("truncated.json"), std::string::npos);
  ASSERT_EQ(h.series.size(), 2u);
  for (const auto& s : h.series) {
    ASSERT_EQ(s.changes.size(), 1u) << s.key;
    if (s.suite == "kv_cache") {
      EXPECT_EQ(s.changes[0].point, 16u);
      EXPECT_TRUE(s.changes[0].regression);
      EXPECT_NEAR(s.changes[0].delta, 0.2, 0.03);
    } else {
      EXPECT_EQ(s.changes[0].point, 8u);
      EXPECT_FALSE(s.changes[0].regression);  // higher tokens/s is an improvement
    }
  }
  json j = h.to_json();
  EXPECT_EQ(j["kind"], "trend");
  std::string page = render_history(h);
  EXPECT_NE(page.find("\"kind\":\"trend\""), std::string::npos);

  auto cli = test::run_dsbench("history " + dir.string() + " -o " + (dir / "trend.html").string() +
                                   " --json " + (dir / "trend.json").string(), dir);
  EXPECT_EQ(cli.code, 0) << cli.err;
  EXPECT_NE(cli.err.find("truncated.json"), std::string::npos) << cli.err;
  EXPECT_TRUE(std::filesystem::exists(dir / "trend.html"));
  EXPECT_EQ(json::parse(test::read_file(dir / "trend.json"))["series"].size(), 2u);
}

TEST(History, EmptyOrMissingFolderIsBadInput) {
  auto dir = test::scratch_dir("history_empty");
  auto none = test::run_dsbench("history " + dir.string() + " -o " + (dir / "t.html").string(), dir);
  EXPECT_EQ(none.code, 2) << none.err;
  auto missing = test::run_dsbench("history " + (dir / "nope").string(), dir);
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("nope"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace dsbench::reports
