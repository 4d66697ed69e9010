// The statistical bars of compare: over 200 seeded trials with 3% lognormal noise and 10
// samples per side, a 10% slowdown is flagged in >= 95% of trials, identical distributions in
// <= 5%, and the direction of each metric is honoured.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "dsbench/reports/compare.h"
#include "fixtures.h"

namespace dsbench::reports {
namespace {

constexpr int kTrials = 200;
constexpr int kSamples = 10;
constexpr double kNoise = 0.03;

struct Rates {
  int regressed = 0, improved = 0, unchanged = 0, inconclusive = 0;
};

Rates run_trials(uint64_t seed, double base_center, double cand_center, Direction dir) {
  std::mt19937_64 rng(seed);
  Rates r;
  for (int t = 0; t < kTrials; ++t) {
    auto base = test::lognormal_samples(rng, base_center, kNoise, kSamples);
    auto cand = test::lognormal_samples(rng, cand_center, kNoise, kSamples);
    auto j = judge_samples(base, cand, dir, 0.05, 0.01);
    switch (j.verdict) {
      case Verdict::kRegressed: ++r.regressed; break;
      case Verdict::kImproved: ++r.improved; break;
      case Verdict::kUnchanged: ++r.unchanged; break;
      default: ++r.inconclusive; break;
    }
  }
  std::printf("[rates] base %.3g cand %.3g %s: regressed %d, improved %d, unchanged %d, "
              "inconclusive %d of %d\n",
              base_center, cand_center, dir == Direction::kLower ? "lower" : "higher", r.regressed,
              r.improved, r.unchanged, r.inconclusive, kTrials);
  return r;
}

TEST(CompareStatistics, InjectedTenPercentSlowdownIsFlagged) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    Rates r = run_trials(seed, 1.0e-3, 1.1e-3, Direction::kLower);
    EXPECT_GE(r.regressed, kTrials * 95 / 100) << "seed " << seed;
    EXPECT_EQ(r.improved, 0);
  }
}

TEST(CompareStatistics, IdenticalDistributionsAreRarelyFlagged) {
  for (uint64_t seed : {4u, 5u, 6u}) {
    Rates r = run_trials(seed, 1.0e-3, 1.0e-3, Direction::kLower);
    EXPECT_LE(r.regressed + r.improved, kTrials * 5 / 100) << "seed " << seed;
  }
}

TEST(CompareStatistics, HigherIsBetterMetricsFlipTheVerdict) {
  // tokens/s up 10%: an improvement; down 10%: a regression.
  Rates up = run_trials(7, 1000.0, 1100.0, Direction::kHigher);
  EXPECT_GE(up.improved, kTrials * 95 / 100);
  EXPECT_EQ(up.regressed, 0);
  Rates down = run_trials(8, 1000.0, 1000.0 / 1.1, Direction::kHigher);
  EXPECT_GE(down.regressed, kTrials * 95 / 100);
  EXPECT_EQ(down.improved, 0);
  // And a faster time is an improvement.
  Rates faster = run_trials(9, 1.1e-3, 1.0e-3, Direction::kLower);
  EXPECT_GE(faster.improved, kTrials * 95 / 100);
}

TEST(CompareStatistics, SmallChangesStayUnchangedEvenWhenSignificant) {
  // 2% slower with almost no noise: significant but under the 5% threshold.
  std::mt19937_64 rng(10);
  auto base = test::lognormal_samples(rng, 1.0, 0.001, kSamples);
  auto cand = test::lognormal_samples(rng, 1.02, 0.001, kSamples);
  auto j = judge_samples(base, cand, Direction::kLower, 0.05, 0.01);
  EXPECT_LT(j.p_value, 0.01);
  EXPECT_EQ(j.verdict, Verdict::kUnchanged);
  // The same with a 1% threshold is a regression.
  EXPECT_EQ(judge_samples(base, cand, Direction::kLower, 0.01, 0.01).verdict, Verdict::kRegressed);
}

TEST(CompareStatistics, UnchangedButNoisyIsFlagged) {
  // Equal medians, but the baseline's spreads +-30%: "unchanged" cannot rule out a 5% change.
  std::mt19937_64 rng(11);
  auto quiet = test::lognormal_samples(rng, 1.0, 0.001, kSamples);
  auto noisy = test::lognormal_samples(rng, 1.0, 0.3, 10);
  noisy[0] = 1.0;  // keep the medians within the threshold
  std::sort(noisy.begin(), noisy.end());
  const double mid = (noisy[4] + noisy[5]) / 2;
  for (double& x : noisy) x /= mid;
  auto j = judge_samples(noisy, quiet, Direction::kLower, 0.05, 0.01);
  EXPECT_EQ(j.verdict, Verdict::kUnchanged);
  EXPECT_NE(j.note.find("noisy"), std::string::npos) << j.note;
  // Tight samples on both sides: no flag.
  auto quiet2 = test::lognormal_samples(rng, 1.0, 0.001, kSamples);
  EXPECT_EQ(judge_samples(quiet2, quiet, Direction::kLower, 0.05, 0.01).note, "");
  // Too few samples for an interval (quick runs): nothing is claimed either way.
  EXPECT_EQ(judge_samples({1.0, 1.3, 0.7}, {1.0, 1.0, 1.01}, Direction::kLower, 0.05, 0.01).note, "");
}

TEST(CompareStatistics, LargeButNoisyChangeIsInconclusive) {
  // Three samples a side cannot reach alpha 0.01 (minimum exact p = 0.1).
  auto j = judge_samples({1.0, 1.3, 0.8}, {1.5, 1.9, 1.2}, Direction::kLower, 0.05, 0.01);
  EXPECT_EQ(j.verdict, Verdict::kInconclusive);
}

TEST(CompareStatistics, DeterministicFiguresJudgedByThresholdAlone) {
  auto j = judge_samples({70272}, {75000}, Direction::kLower, 0.05, 0.01);
  EXPECT_EQ(j.verdict, Verdict::kRegressed);
  EXPECT_EQ(judge_samples({70272}, {70272}, Direction::kLower, 0.05, 0.01).verdict,
            Verdict::kUnchanged);
}

}  // namespace
}  // namespace dsbench::reports
