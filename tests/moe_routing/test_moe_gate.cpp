// MoE gate: hand-made cases (ties, group selection, bias moves selection but never weights) and a
// float64 reference over random logits for every gate method.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include "dsbench/kernels/moe_gate.h"

namespace dsbench::kernels {
namespace {

float logit_of(double s) {
  return float(std::log(s / (1 - s)));
}  // sigmoid(logit_of(s)) == s

struct Routed {
  std::vector<int32_t> ids;
  std::vector<float> w;
};
Routed run(const GateConfig& c, const std::vector<float>& logits, const float* bias = nullptr) {
  const int64_t n = int64_t(logits.size()) / c.n_experts;
  Routed r{std::vector<int32_t>(n * c.top_k, -7), std::vector<float>(n * c.top_k, -7.0f)};
  moe_gate(c, logits.data(), n, bias, r.ids.data(), r.w.data());
  return r;
}

GateConfig v3_small() {  // 8 experts in 4 groups of 2, keep 2 groups, top-2, V3 semantics
  return {8, 2, 4, 2, ScoringFunc::kSigmoid, TopkMethod::kNoAuxTc, true, 2.5f};
}

TEST(MoeGate, GroupScoreIsSumOfTopTwoNotMax) {
  // Group 0 = {0.95, 0.10} (max wins), group 1 = {0.80, 0.80} (sum wins), others low.
  std::vector<double> s = {0.95, 0.10, 0.80, 0.80, 0.30, 0.20, 0.25, 0.05};
  std::vector<float> x;
  for (double v : s) x.push_back(logit_of(v));
  GateConfig c = v3_small();
  c.topk_group = 1;
  Routed r = run(c, x);
  EXPECT_EQ(r.ids[0], 2);
  EXPECT_EQ(r.ids[1], 3);
  // V2's group-limited greedy ranks groups by max and keeps group 0.
  c.method = TopkMethod::kGroupLimitedGreedy;
  r = run(c, x);
  EXPECT_EQ(r.ids[0], 0);
  EXPECT_EQ(r.ids[1], 1);
  // Without the group limit the top-2 are the two best experts overall.
  c.method = TopkMethod::kGreedy;
  r = run(c, x);
  EXPECT_EQ(r.ids[0], 0);
  EXPECT_EQ(r.ids[1], 2);
}

TEST(MoeGate, ExpertsOutsideKeptGroupsNeverChosen) {
  // The best single expert (0.99, id 7) sits in a group whose sum loses.
  std::vector<double> s = {0.60, 0.60, 0.55, 0.55, 0.50, 0.50, 0.01, 0.99};
  std::vector<float> x;
  for (double v : s) x.push_back(logit_of(v));
  Routed r = run(v3_small(), x);  // groups: 1.2, 1.1, 1.0, 1.0 -> keep 0 and 1
  EXPECT_EQ(r.ids[0], 0);
  EXPECT_EQ(r.ids[1], 1);
}

TEST(MoeGate, TiesBreakTowardLowerIds) {
  GateConfig c = v3_small();
  std::vector<float> x(8, 0.3f);
  Routed r = run(c, x);  // all groups tie: keep groups 0 and 1; experts 0 and 1
  EXPECT_EQ(r.ids[0], 0);
  EXPECT_EQ(r.ids[1], 1);
  EXPECT_FLOAT_EQ(r.w[0], 1.25f);
  EXPECT_FLOAT_EQ(r.w[1], 1.25f);
  c.n_group = c.topk_group = 1;
  c.top_k = 3;
  x = {0.1f, 0.5f, 0.5f, 0.2f, 0.5f, 0.0f, 0.0f, 0.0f};
  r = run(c, x);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{1, 2, 4}));
}

TEST(MoeGate, BiasChangesSelectionButNeverWeights) {
  GateConfig c = v3_small();
  c.n_group = c.topk_group = 1;
  std::vector<double> s = {0.9, 0.8, 0.7, 0.2, 0.6, 0.5, 0.4, 0.3};
  std::vector<float> x;
  for (double v : s) x.push_back(logit_of(v));
  Routed plain = run(c, x);
  EXPECT_EQ(plain.ids, (std::vector<int32_t>{0, 1}));
  std::vector<float> bias(8, 0.0f);
  bias[3] = 0.75f;  // 0.2 + 0.75 = 0.95: expert 3 now ranks first
  Routed biased = run(c, x, bias.data());
  EXPECT_EQ(biased.ids, (std::vector<int32_t>{3, 0}));
  // Weights are the unbiased scores, normalised, times the scaling factor.
  EXPECT_NEAR(biased.w[0], 2.5 * 0.2 / 1.1, 1e-5);
  EXPECT_NEAR(biased.w[1], 2.5 * 0.9 / 1.1, 1e-5);
  // A uniform bias moves nothing at all.
  std::fill(bias.begin(), bias.end(), 0.37f);
  Routed shifted = run(c, x, bias.data());
  EXPECT_EQ(shifted.ids, plain.ids);
  EXPECT_EQ(shifted.w, plain.w);
}

TEST(MoeGate, BiasAlsoSteersGroupSelection) {
  std::vector<double> s = {0.60, 0.60, 0.55, 0.55, 0.50, 0.50, 0.01, 0.02};
  std::vector<float> x;
  for (double v : s) x.push_back(logit_of(v));
  std::vector<float> bias(8, 0.0f);
  bias[6] = bias[7] = 1.0f;  // group 3 sums to 2.03 biased: kept, and its experts lead
  Routed r = run(v3_small(), x, bias.data());
  EXPECT_EQ(r.ids[0], 7);
  EXPECT_EQ(r.ids[1], 6);
  EXPECT_NEAR(r.w[0], 2.5 * 0.02 / 0.03, 1e-4);
}

TEST(MoeGate, NormalisedWeightsSumToScalingFactor) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0, 2);
  GateConfig c{256, 8, 8, 4, ScoringFunc::kSigmoid, TopkMethod::kNoAuxTc, true, 2.5f};
  std::vector<float> x(256 * 300);
  for (auto& v : x) v = nd(rng);
  Routed r = run(c, x);
  for (int t = 0; t < 300; ++t) {
    double sum = 0;
    for (int j = 0; j < 8; ++j) sum += r.w[t * 8 + j];
    EXPECT_NEAR(sum, 2.5, 1e-5);
  }
}

TEST(MoeGate, SoftmaxWithoutNormalisationKeepsProbabilities) {
  // DeepSeek-V2-Lite: softmax, greedy, norm_topk_prob false, scale 1.
  GateConfig c{4, 2, 1, 1, ScoringFunc::kSoftmax, TopkMethod::kGreedy, false, 1.0f};
  std::vector<float> x = {1.0f, 2.0f, 0.0f, 3.0f};
  Routed r = run(c, x);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(0.0) + std::exp(3.0);
  EXPECT_EQ(r.ids, (std::vector<int32_t>{3, 1}));
  EXPECT_NEAR(r.w[0], std::exp(3.0) / z, 1e-6);
  EXPECT_NEAR(r.w[1], std::exp(2.0) / z, 1e-6);
  c.norm_topk_prob = true;  // standard top-2: renormalised over the chosen two
  r = run(c, x);
  EXPECT_NEAR(r.w[0] + r.w[1], 1.0, 1e-6);
}

TEST(MoeGate, RejectsInconsistentConfigs) {
  std::vector<float> x(8, 0.0f);
  std::vector<int32_t> ids(8);
  std::vector<float> w(8);
  GateConfig c = v3_small();
  c.top_k = 9;
  EXPECT_THROW(moe_gate(c, x.data(), 1, nullptr, ids.data(), w.data()), std::invalid_argument);
  c = v3_small();
  c.n_group = 3;
  EXPECT_THROW(moe_gate(c, x.data(), 1, nullptr, ids.data(), w.data()), std::invalid_argument);
  c = v3_small();
  c.topk_group = 1;
  c.top_k = 3;  // one group of two experts cannot supply three
  EXPECT_THROW(moe_gate(c, x.data(), 1, nullptr, ids.data(), w.data()), std::invalid_argument);
}

// float64 reference of every method, written the way the reference code reads.
void reference(const GateConfig& c, const float* x, const float* bias, std::vector<int>& ids,
               std::vector<double>& w) {
  const int E = c.n_experts, G = c.n_group, m = E / G;
  std::vector<double> s(E), ch(E);
  if (c.scoring == ScoringFunc::kSigmoid) {
    for (int e = 0; e < E; ++e) s[e] = 1 / (1 + std::exp(-double(x[e])));
  } else {
    double mx = *std::max_element(x, x + E), z = 0;
    for (int e = 0; e < E; ++e) z += (s[e] = std::exp(double(x[e]) - mx));
    for (double& v : s) v /= z;
  }
  for (int e = 0; e < E; ++e) ch[e] = s[e] + (bias ? bias[e] : 0.0);
  std::vector<char> allowed(E, 1);
  if (c.method != TopkMethod::kGreedy && G > 1) {
    std::vector<std::pair<double, int>> gs;
    for (int g = 0; g < G; ++g) {
      std::vector<double> v(ch.begin() + g * m, ch.begin() + (g + 1) * m);
      std::sort(v.rbegin(), v.rend());
      gs.push_back({c.method == TopkMethod::kNoAuxTc && m > 1 ? v[0] + v[1] : v[0], g});
    }
    std::stable_sort(gs.begin(), gs.end(), [](auto a, auto b) { return a.first > b.first; });
    std::fill(allowed.begin(), allowed.end(), 0);
    for (int i = 0; i < c.topk_group; ++i)
      for (int e = gs[i].second * m; e < (gs[i].second + 1) * m; ++e) allowed[e] = 1;
  }
  std::vector<int> order;
  for (int e = 0; e < E; ++e)
    if (allowed[e]) order.push_back(e);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return ch[a] > ch[b]; });
  ids.assign(order.begin(), order.begin() + c.top_k);
  w.clear();
  double sum = 0;
  for (int id : ids) sum += s[id];
  for (int id : ids) w.push_back(s[id] * c.routed_scaling_factor / (c.norm_topk_prob ? sum : 1.0));
}

TEST(MoeGate, MatchesFloat64ReferenceOnRandomLogits) {
  const GateConfig configs[] = {
      {256, 8, 8, 4, ScoringFunc::kSigmoid, TopkMethod::kNoAuxTc, true, 2.5f},
      {384, 8, 1, 1, ScoringFunc::kSigmoid, TopkMethod::kNoAuxTc, true, 2.827f},
      {64, 6, 1, 1, ScoringFunc::kSoftmax, TopkMethod::kGreedy, false, 1.0f},
      {160, 6, 8, 3, ScoringFunc::kSoftmax, TopkMethod::kGroupLimitedGreedy, false, 16.0f},
      {16, 2, 1, 1, ScoringFunc::kSoftmax, TopkMethod::kGreedy, true, 1.0f},
  };
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0, 1.5f);
  for (const auto& c : configs) {
    const int n = 400;
    std::vector<float> x(size_t(n) * c.n_experts), bias(c.n_experts);
    for (auto& v : x) v = nd(rng);
    for (auto& v : bias) v = 0.05f * nd(rng);
    Routed r = run(c, x, bias.data());
    int near_ties = 0;
    for (int t = 0; t < n; ++t) {
      std::vector<int> ids;
      std::vector<double> w;
      reference(c, x.data() + size_t(t) * c.n_experts, bias.data(), ids, w);
      bool same = true;
      for (int j = 0; j < c.top_k; ++j) same = same && ids[j] == r.ids[t * c.top_k + j];
      if (!same) {
        ++near_ties;  // only acceptable where float32 rounding can flip a near-tie
        continue;
      }
      for (int j = 0; j < c.top_k; ++j)
        EXPECT_NEAR(r.w[t * c.top_k + j], w[j], 1e-5 * std::max(1.0, std::abs(w[j])))
            << "experts " << c.n_experts << " token " << t << " slot " << j;
    }
    EXPECT_LE(near_ties, n / 100) << "experts " << c.n_experts;
  }
}

}  // namespace
}  // namespace dsbench::kernels
