// Aux-loss-free balancing simulation (balancing.h). Tokens come from a fixed pool of Zipf-skewed
// affinity vectors so that the balancing problem is stationary and the bias has something fixed
// to converge to, as over a long training run; each step draws a fresh random batch from it.
#include "moe_routing/balancing.h"

#include <algorithm>
#include <random>

#include "dsbench/kernels/moe_metrics.h"
#include "moe_routing/token_sources.h"

namespace dsbench::suites::moe {

namespace {
double max_over_mean(const std::vector<int64_t>& counts) {
  std::vector<double> d(counts.begin(), counts.end());
  return kernels::load_stats(d).max_over_mean;
}
double tail_mean(const std::vector<double>& v, double frac, bool head) {
  const size_t n = std::max<size_t>(1, size_t(v.size() * frac));
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += head ? v[i] : v[v.size() - 1 - i];
  return s / n;
}
}  // namespace

BalanceSimResult simulate_bias_balancing(const kernels::GateConfig& gate,
                                         const BalanceSimOptions& o) {
  const int E = gate.n_experts, K = gate.top_k;
  std::mt19937_64 rng(o.seed);
  const std::vector<double> pop = zipf_popularity(E, o.zipf_s, rng);
  std::vector<float> pool(size_t(o.pool_tokens) * E);
  popularity_logits(pop, o.noise, o.pool_tokens, rng, pool.data());

  std::vector<float> batch(size_t(o.tokens_per_step) * E), bias(E, 0.0f),
      w(size_t(o.tokens_per_step) * K);
  std::vector<int32_t> ids(size_t(o.tokens_per_step) * K);
  std::vector<int64_t> c_with(E), c_without(E);
  std::uniform_int_distribution<int64_t> pick(0, o.pool_tokens - 1);
  BalanceSimResult r;
  for (int s = 0; s < o.steps; ++s) {
    for (int64_t t = 0; t < o.tokens_per_step; ++t) {
      const int64_t src = pick(rng);
      std::copy_n(pool.data() + src * E, E, batch.data() + t * E);
    }
    kernels::moe_gate(gate, batch.data(), o.tokens_per_step, bias.data(), ids.data(), w.data());
    std::fill(c_with.begin(), c_with.end(), 0);
    kernels::count_expert_tokens(ids.data(), o.tokens_per_step, K, E, c_with.data());
    kernels::moe_gate(gate, batch.data(), o.tokens_per_step, nullptr, ids.data(), w.data());
    std::fill(c_without.begin(), c_without.end(), 0);
    kernels::count_expert_tokens(ids.data(), o.tokens_per_step, K, E, c_without.data());
    r.with_bias.push_back(max_over_mean(c_with));
    r.without_bias.push_back(max_over_mean(c_without));
    kernels::aux_free_bias_update(c_with.data(), E, o.gamma, bias.data());
    const auto [mn, mx] = std::minmax_element(bias.begin(), bias.end());
    r.bias_spread.push_back(double(*mx) - double(*mn));
  }
  r.initial = tail_mean(r.without_bias, 0.05, true);
  r.final_with = tail_mean(r.with_bias, 0.10, false);
  r.final_without = tail_mean(r.without_bias, 0.10, false);
  r.final_bias = bias;
  return r;
}

}  // namespace dsbench::suites::moe
