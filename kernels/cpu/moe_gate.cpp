// CPU MoE gates (moe_gate.h): DeepSeek-V3 noaux_tc, DeepSeek-V2 greedy / group-limited greedy and
// standard softmax top-k. One token per OpenMP iteration; selection is a bounded insertion top-k.
#include "dsbench/kernels/moe_gate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "fast_exp.h"

namespace dsbench::kernels {

namespace {

// Keeps the best `k` (score, id) pairs in descending score order. Candidates arrive in ascending
// id order, so a strict ">" keeps the lower id first on ties, as the header promises.
struct TopK {
  int k = 0;
  int n = 0;
  float* score;
  int32_t* id;
  void push(float s, int32_t i) {
    if (n == k) {
      if (!(s > score[k - 1])) return;  // also drops NaN
      --n;
    } else if (!(s == s)) {
      return;
    }
    int p = n;
    while (p > 0 && s > score[p - 1]) {
      score[p] = score[p - 1];
      id[p] = id[p - 1];
      --p;
    }
    score[p] = s;
    id[p] = i;
    ++n;
  }
};

using detail::fast_exp;  // vectorisable exp (fast_exp.h); routing needs no more than ~2e-7

void validate(const GateConfig& c) {
  auto bad = [](const std::string& m) { throw std::invalid_argument("moe_gate: " + m); };
  if (c.n_experts <= 0) bad("n_experts must be > 0");
  if (c.top_k <= 0 || c.top_k > c.n_experts) bad("top_k must be in [1, n_experts]");
  if (c.n_group <= 0 || c.n_experts % c.n_group != 0) bad("n_group must divide n_experts");
  if (c.topk_group <= 0 || c.topk_group > c.n_group) bad("topk_group must be in [1, n_group]");
  bool grouped = c.method != TopkMethod::kGreedy && c.n_group > 1;
  if (grouped && int64_t(c.topk_group) * (c.n_experts / c.n_group) < c.top_k)
    bad("topk_group groups hold fewer than top_k experts");
}

}  // namespace

void moe_gate(const GateConfig& cfg, const float* logits, int64_t n_tokens, const float* bias,
              int32_t* topk_ids, float* topk_weights) {
  validate(cfg);
  const int E = cfg.n_experts;
  const int K = cfg.top_k;
  const int G = cfg.n_group;
  const int per_group = E / G;
  const bool grouped = cfg.method != TopkMethod::kGreedy && G > 1;
  const bool sum_top2 = cfg.method == TopkMethod::kNoAuxTc;

  // Threads only pay off past ~0.5 ms of work; below that, waking them (and, on a loaded host,
  // waiting for a descheduled one at the barrier) costs more than the routing itself.
#pragma omp parallel if (n_tokens * int64_t(E) >= (int64_t(1) << 18))
  {
    // scores: unbiased; choice: scores + bias (what selection sees).
    std::vector<float> scores(E), choice(E), gscore(G), tk_score(K), g_tk_score(G);
    std::vector<int32_t> g_tk_id(G);
    std::vector<char> keep(G);

#pragma omp for schedule(static)
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* x = logits + t * E;
      if (cfg.scoring == ScoringFunc::kSigmoid) {
        for (int e = 0; e < E; ++e) scores[e] = 1.0f / (1.0f + fast_exp(-x[e]));
      } else {
        float m = -std::numeric_limits<float>::infinity();
        for (int e = 0; e < E; ++e) m = std::max(m, x[e]);
        float sum = 0;
        for (int e = 0; e < E; ++e) scores[e] = fast_exp(x[e] - m);
        for (int e = 0; e < E; ++e) sum += scores[e];
        float inv = 1.0f / sum;
        for (int e = 0; e < E; ++e) scores[e] *= inv;
      }
      if (bias) {
        for (int e = 0; e < E; ++e) choice[e] = scores[e] + bias[e];
      } else {
        std::copy(scores.begin(), scores.end(), choice.begin());
      }

      if (grouped) {
        for (int g = 0; g < G; ++g) {
          const float* c = choice.data() + g * per_group;
          float a = -std::numeric_limits<float>::infinity(), b = a;  // best two
          for (int j = 0; j < per_group; ++j) {
            if (c[j] > a) {
              b = a;
              a = c[j];
            } else if (c[j] > b) {
              b = c[j];
            }
          }
          // noaux_tc sums the top two (one when a group holds a single expert); V2 takes the max.
          gscore[g] = sum_top2 && per_group > 1 ? a + b : a;
        }
        TopK gsel{cfg.topk_group, 0, g_tk_score.data(), g_tk_id.data()};
        for (int g = 0; g < G; ++g) gsel.push(gscore[g], g);
        std::fill(keep.begin(), keep.end(), 0);
        for (int i = 0; i < gsel.n; ++i) keep[g_tk_id[i]] = 1;
      }

      TopK sel{K, 0, tk_score.data(), topk_ids + t * K};
      for (int g = 0; g < G; ++g) {
        if (grouped && !keep[g]) continue;
        for (int e = g * per_group; e < (g + 1) * per_group; ++e) sel.push(choice[e], e);
      }
      for (int i = sel.n; i < K; ++i) topk_ids[t * K + i] = -1;  // only with NaN logits

      float* w = topk_weights + t * K;
      float sum = 0;
      for (int i = 0; i < K; ++i) {
        int32_t id = topk_ids[t * K + i];
        w[i] = id >= 0 ? scores[id] : 0.0f;
        sum += w[i];
      }
      float scale = cfg.routed_scaling_factor;
      if (cfg.norm_topk_prob && sum > 0) scale /= sum;
      for (int i = 0; i < K; ++i) w[i] *= scale;
    }
  }
}

}  // namespace dsbench::kernels
