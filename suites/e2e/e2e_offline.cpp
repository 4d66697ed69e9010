// e2e offline throughput: N requests with uniform input/output length distributions submitted at
// once to the continuous-batching scheduler; request/token throughput and TTFT/TPOT/ITL percentiles.
#include <chrono>
#include <random>

#include "dsbench/engine/scheduler.h"
#include "dsbench/error.h"
#include "dsbench/stats.h"
#include "e2e/e2e_common.h"

namespace dsbench::suites::e2e {
using engine::AttentionMode;

std::vector<Benchmark> offline_benchmarks(const SuiteContext& ctx, std::shared_ptr<ModelHolder> h) {
  const std::string skip = engine_skip_reason(ctx.model);
  const int64_t n_req = int_list_option(ctx.options, "offline_requests", {ctx.quick ? 6 : 64}).at(0);
  const auto in_len = int_list_option(ctx.options, "input_len", ctx.quick ? std::vector<int64_t>{16, 64}
                                                                           : std::vector<int64_t>{64, 1024});
  const auto out_len = int_list_option(ctx.options, "output_len", ctx.quick ? std::vector<int64_t>{4, 12}
                                                                             : std::vector<int64_t>{32, 256});
  if (in_len.size() != 2 || out_len.size() != 2 || in_len[0] > in_len[1] || out_len[0] > out_len[1])
    throw UsageError("e2e options 'input_len'/'output_len': expected [min, max]");
  std::vector<AttentionMode> modes = {AttentionMode::kMlaAbsorbed};
  if (ctx.options.is_object() && ctx.options.contains("modes")) modes = modes_option(ctx.options);
  std::vector<Benchmark> out;
  for (AttentionMode mode : modes) {
    Benchmark b;
    b.name = "offline";
    b.params = {{"requests", n_req},        {"input_min", in_len[0]},   {"input_max", in_len[1]},
                {"output_min", out_len[0]}, {"output_max", out_len[1]}, {"mode", engine::to_string(mode)},
                {"max_step_tokens", 512},   {"max_running", 64}};
    b.direction = Direction::kLower;
    b.skipped = skip;
    b.measure = [h, mode, n_req, in_len, out_len, seed = ctx.seed]() {
      engine::Model& m = h->get();
      engine::KvCacheOptions co;
      co.mode = mode;
      co.dtype = kernels::DType::kBF16;
      co.budget_bytes = int64_t(512) << 20;
      engine::KvCache cache(h->cfg, co);
      engine::SchedulerOptions so;
      so.max_step_tokens = 512;
      so.max_running = 64;
      engine::Scheduler sched(m, cache, so);
      std::mt19937_64 rng(seed);
      std::uniform_int_distribution<int64_t> di(in_len[0], in_len[1]), dout(out_len[0], out_len[1]);
      int64_t in_tokens = 0, out_tokens = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < n_req; ++i) {
        engine::RequestSpec s;
        s.prompt.resize(size_t(di(rng)));
        for (auto& t : s.prompt) t = int32_t(rng() % uint64_t(m.vocab()));
        s.max_tokens = dout(rng);
        s.ignore_eos = true;
        in_tokens += int64_t(s.prompt.size());
        sched.submit(std::move(s));
      }
      sched.run_until_idle();
      const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      auto res = sched.take_finished();
      std::vector<double> ttft, tpot, itl;
      for (const auto& r : res) {
        out_tokens += int64_t(r.output.size());
        ttft.push_back(r.ttft_s());
        if (r.output.size() > 1) tpot.push_back(r.tpot_s());
        for (size_t i = 1; i < r.token_ns.size(); ++i) itl.push_back(double(r.token_ns[i] - r.token_ns[i - 1]) * 1e-9);
      }
      Measurement mm;
      mm.samples = {total};
      auto& c = mm.counters;
      c["requests_per_s"] = double(res.size()) / total;
      c["output_tokens_per_s"] = double(out_tokens) / total;
      c["total_tokens_per_s"] = double(in_tokens + out_tokens) / total;
      c["completed"] = double(res.size());
      for (auto& [name, v] : std::vector<std::pair<std::string, std::vector<double>*>>{
               {"ttft", &ttft}, {"tpot", &tpot}, {"itl", &itl}})
        for (double q : {50.0, 90.0, 99.0})
          c[name + "_p" + std::to_string(int(q)) + "_s"] = percentile(*v, q);
      const auto st = sched.stats();
      c["peak_running"] = double(st.peak_running);
      c["peak_kv_bytes"] = double(st.peak_kv_blocks_used) * double(cache.pool().block_bytes());
      c["steps"] = double(st.steps);
      mm.data = {{"ttft_s", ttft}, {"tpot_s", tpot}};
      return mm;
    };
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace dsbench::suites::e2e
