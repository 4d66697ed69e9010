// e2e prefill and decode throughput. Decode reports tokens/s and a roofline fraction computed from
// the bytes a step really had to read: fixed weights, the routed experts this batch touched, and
// the cached rows attention read, over the host's measured read bandwidth.
#include <chrono>

#include "dsbench/error.h"
#include "dsbench/host.h"
#include "dsbench/stats.h"
#include "dsbench/trace.h"
#include "e2e/e2e_common.h"

namespace dsbench::suites::e2e {
using engine::AttentionMode;

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

engine::KvCacheOptions cache_for(const ModelConfig& cfg, AttentionMode mode, int64_t seqs, int64_t tokens) {
  engine::KvCacheOptions o;
  o.mode = mode;
  o.dtype = kernels::DType::kBF16;
  const int64_t blocks = seqs * ((tokens + o.block_size - 1) / o.block_size + 1);
  o.budget_bytes = blocks * o.block_size * engine::cache_bytes_per_token(cfg, mode, o.dtype);
  return o;
}

// One greedy decode step for every sequence: feed each its last token, keep the argmax as the
// next. Returns the seconds spent in the forward pass alone.
double greedy_decode_step(engine::Model& m, engine::KvCache& cache, const std::vector<int32_t>& seqs,
                          std::vector<int32_t>& tok, std::vector<engine::SeqInput>& in,
                          std::vector<float>& logits, engine::ForwardStats* fs) {
  for (size_t i = 0; i < seqs.size(); ++i) in[i] = {seqs[i], &tok[i], 1, true};
  const double t0 = now_s();
  {
    DSBENCH_TRACE_SCOPE("engine/decode_step");
    m.forward(in, cache, logits, fs);
  }
  const double t = now_s() - t0;
  greedy_next_tokens(logits, m.vocab(), tok);
  return t;
}
}  // namespace

std::vector<Benchmark> decode_benchmarks(const SuiteContext& ctx, std::shared_ptr<ModelHolder> h) {
  const std::string skip = engine_skip_reason(ctx.model);
  const auto batches = int_list_option(ctx.options, "batches",
                                       ctx.quick ? std::vector<int64_t>{1, 4} : std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64});
  const int64_t context = int_list_option(ctx.options, "decode_context", {ctx.quick ? 16 : 128}).at(0);
  const int64_t steps = int_list_option(ctx.options, "decode_steps", {ctx.quick ? 4 : 24}).at(0);
  const double peak_bw = peak_bandwidth_gbps(ctx.host, "cpu");
  std::vector<AttentionMode> modes = {AttentionMode::kMlaAbsorbed};
  if (ctx.options.is_object() && ctx.options.contains("modes")) modes = modes_option(ctx.options);
  std::vector<Benchmark> out;
  for (AttentionMode mode : modes)
    for (int64_t batch : batches) {
      Benchmark b;
      b.name = "decode";
      b.params = {{"batch", batch}, {"context", context}, {"mode", engine::to_string(mode)}, {"dtype", "bf16"}};
      b.direction = Direction::kLower;
      b.skipped = skip;
      b.measure = [h, mode, batch, context, steps, peak_bw, seed = ctx.seed]() {
        engine::Model& m = h->get();
        engine::KvCache cache(h->cfg, cache_for(h->cfg, mode, batch, context + steps + 4));
        std::vector<int32_t> seqs;
        for (int64_t i = 0; i < batch; ++i) seqs.push_back(cache.pool().add_sequence());
        std::vector<int32_t> tok = prefill_sequences(m, cache, seqs, context, 512, seed);
        std::vector<float> logits;
        std::vector<engine::SeqInput> in(static_cast<size_t>(batch));
        return measure_decode_steps(batch, steps, peak_bw, "peak_read_gbps", [&](engine::ForwardStats* fs) {
          return greedy_decode_step(m, cache, seqs, tok, in, logits, fs);
        });
      };
      out.push_back(std::move(b));
    }
  // Batching speed-up: tokens/s at each batch over batch 1, both measured here in alternating
  // rounds (paired_decode_speedup), so that a host whose speed drifts between benchmarks does not
  // move the ratio; the `decode` records above are measured minutes apart.
  const int rounds = ctx.quick ? 2 : 5;
  for (AttentionMode mode : modes)
    for (int64_t batch : batches) {
      if (batch == 1) continue;
      Benchmark b;
      b.name = "decode_speedup";
      b.params = {{"batch", batch}, {"vs_batch", 1}, {"context", context}, {"mode", engine::to_string(mode)},
                  {"dtype", "bf16"}};
      b.unit = "ratio";
      b.direction = Direction::kHigher;
      b.skipped = skip;
      b.measure = [h, mode, batch, context, steps, rounds, seed = ctx.seed]() {
        engine::Model& m = h->get();
        const int64_t grow = int64_t(rounds) * steps + 2 + 4;  // tokens each sequence gains
        engine::KvCache cache_one(h->cfg, cache_for(h->cfg, mode, 1, context + grow));
        engine::KvCache cache_many(h->cfg, cache_for(h->cfg, mode, batch, context + grow));
        std::vector<int32_t> seq_one = {cache_one.pool().add_sequence()}, seq_many;
        for (int64_t i = 0; i < batch; ++i) seq_many.push_back(cache_many.pool().add_sequence());
        std::vector<int32_t> tok_one = prefill_sequences(m, cache_one, seq_one, context, 512, seed);
        std::vector<int32_t> tok_many = prefill_sequences(m, cache_many, seq_many, context, 512, seed);
        std::vector<float> logits;
        std::vector<engine::SeqInput> in_one(1), in_many(static_cast<size_t>(batch));
        return paired_decode_speedup(
            batch, rounds, steps,
            [&](engine::ForwardStats* fs) { return greedy_decode_step(m, cache_one, seq_one, tok_one, in_one, logits, fs); },
            [&](engine::ForwardStats* fs) {
              return greedy_decode_step(m, cache_many, seq_many, tok_many, in_many, logits, fs);
            });
      };
      out.push_back(std::move(b));
    }
  return out;
}

// Tracing overhead (--trace costs): decode tokens/s of one batch with trace collection on and
// off, interleaved in the same run (trace::measure_overhead); 1.0 means free.
Benchmark trace_overhead_benchmark(const SuiteContext& ctx, std::shared_ptr<ModelHolder> h) {
  const int64_t batch = 4, context = ctx.quick ? 16 : 128, steps = ctx.quick ? 4 : 16;
  const int rounds = ctx.quick ? 3 : 5;
  Benchmark b;
  b.name = "trace_overhead";
  b.params = {{"batch", batch}, {"context", context}, {"mode", "mla_absorbed"}, {"dtype", "bf16"},
              {"workload", "decode"}};
  b.unit = "ratio";
  b.direction = Direction::kHigher;
  b.skipped = engine_skip_reason(ctx.model);
  b.measure = [h, batch, context, steps, rounds, seed = ctx.seed]() {
    engine::Model& m = h->get();
    const AttentionMode mode = AttentionMode::kMlaAbsorbed;
    // Every round appends `steps` tokens per sequence: size the cache for all of them.
    engine::KvCache cache(h->cfg, cache_for(h->cfg, mode, batch, context + steps * (2 * rounds + 1) + 4));
    std::vector<int32_t> seqs;
    for (int64_t i = 0; i < batch; ++i) seqs.push_back(cache.pool().add_sequence());
    std::vector<int32_t> tok = prefill_sequences(m, cache, seqs, context, 512, seed);
    std::vector<float> logits;
    std::vector<engine::SeqInput> in(static_cast<size_t>(batch));
    auto tokens_per_s = [&]() {
      const double t0 = now_s();
      for (int64_t s = 0; s < steps; ++s) greedy_decode_step(m, cache, seqs, tok, in, logits, nullptr);
      return double(batch * steps) / (now_s() - t0);
    };
    tokens_per_s();  // warm-up
    const trace::OverheadResult res = trace::measure_overhead(tokens_per_s, rounds);
    Measurement r;
    r.samples = {res.ratio};
    r.counters = {{"traced_tokens_per_s", res.traced},
                  {"untraced_tokens_per_s", res.untraced},
                  {"rounds", res.rounds}};
    return r;
  };
  return b;
}

std::vector<Benchmark> prefill_benchmarks(const SuiteContext& ctx, std::shared_ptr<ModelHolder> h) {
  const std::string skip = engine_skip_reason(ctx.model);
  const auto lengths = int_list_option(ctx.options, "prompt_lengths",
                                       ctx.quick ? std::vector<int64_t>{128} : std::vector<int64_t>{128, 512, 2048, 8192});
  const int64_t chunk = int_list_option(ctx.options, "prefill_chunk", {512}).at(0);
  std::vector<Benchmark> out;
  for (int64_t len : lengths) {
    Benchmark b;
    b.name = "prefill";
    b.params = {{"prompt", len}, {"chunk", chunk}, {"mode", "mla_absorbed"}, {"dtype", "bf16"}};
    b.direction = Direction::kLower;
    b.skipped = skip;
    const int reps = ctx.quick ? 1 : (len >= 4096 ? 2 : 3);
    b.measure = [h, len, chunk, reps, seed = ctx.seed]() {
      engine::Model& m = h->get();
      Measurement r;
      for (int rep = 0; rep < reps; ++rep) {
        engine::KvCache cache(h->cfg, cache_for(h->cfg, AttentionMode::kMlaAbsorbed, 1, len));
        std::vector<int32_t> seqs = {cache.pool().add_sequence()};
        const double t0 = now_s();
        {
          DSBENCH_TRACE_SCOPE("engine/prefill");
          prefill_sequences(m, cache, seqs, len, chunk, seed + uint64_t(rep));
        }
        r.samples.push_back(now_s() - t0);
      }
      r.counters["tokens_per_s"] = double(len) / compute_stats(r.samples).median;
      return r;
    };
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace dsbench::suites::e2e
