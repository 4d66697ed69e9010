// The e2e suite: the engine end to end on the CPU (prefill and decode throughput, offline serving
// latency percentiles, KV bytes per token and concurrency at a fixed budget per attention mode),
// and under --device cuda the device engine's decode and prefill (e2e_cuda.cpp).
#include <algorithm>
#include <random>

#include "dsbench/error.h"
#include "dsbench/stats.h"
#include "e2e/e2e_common.h"

namespace dsbench::suites::e2e {

engine::Model& ModelHolder::get() {
  if (!model) model = engine::Model::synthetic(cfg, seed);
  return *model;
}

std::string engine_skip_reason(const ModelConfig& cfg) {
  if (!cfg.is_mla()) return "the engine runs MLA models; " + cfg.name + " is not MLA";
  const double need = engine::estimate_weight_bytes(cfg, kernels::DType::kBF16);
  if (need > 8e9)
    return "synthetic bf16 weights of " + cfg.name + " need " + std::to_string(int64_t(need / 1e9)) +
           " GB; run e2e with a small config such as dsv3-tiny";
  return "";
}

std::vector<int64_t> int_list_option(const nlohmann::json& options, const char* key,
                                     std::vector<int64_t> dflt) {
  if (!options.is_object() || !options.contains(key)) return dflt;
  const auto& v = options[key];
  std::vector<int64_t> out;
  if (v.is_number_integer()) out.push_back(v.get<int64_t>());
  else if (v.is_array())
    for (const auto& x : v) {
      if (!x.is_number_integer() || x.get<int64_t>() <= 0)
        throw UsageError(std::string("e2e option '") + key + "': expected positive integers");
      out.push_back(x.get<int64_t>());
    }
  else
    throw UsageError(std::string("e2e option '") + key + "': expected an integer or a list");
  return out;
}

std::vector<engine::AttentionMode> modes_option(const nlohmann::json& options) {
  if (!options.is_object() || !options.contains("modes")) return engine::all_attention_modes();
  std::vector<engine::AttentionMode> out;
  for (const auto& x : options["modes"]) {
    if (!x.is_string()) throw UsageError("e2e option 'modes': expected names");
    out.push_back(engine::parse_attention_mode(x.get<std::string>()));
  }
  return out;
}

void greedy_next_tokens(const std::vector<float>& logits, int64_t vocab, std::vector<int32_t>& tok) {
  for (size_t i = 0; i < tok.size(); ++i) {
    const float* l = logits.data() + int64_t(i) * vocab;
    tok[i] = int32_t(std::max_element(l, l + vocab) - l);
  }
}

Measurement measure_decode_steps(int64_t batch, int64_t steps, double peak_bw, const char* peak_key,
                                 const std::function<double(engine::ForwardStats*)>& step) {
  Measurement r;
  std::vector<double> bytes, experts;
  for (int64_t s = -2; s < steps; ++s) {  // two warm-up steps
    engine::ForwardStats fs;
    const double t = step(&fs);
    if (s < 0) continue;
    r.samples.push_back(t);
    bytes.push_back(fs.weight_bytes_read + fs.cache_bytes_read);
    experts.push_back(double(fs.expert_invocations));
  }
  const double med = compute_stats(r.samples).median;
  const double step_bytes = compute_stats(bytes).median;
  r.counters["tokens_per_s"] = double(batch) / med;
  r.counters["bytes"] = step_bytes;
  r.counters["gbps"] = step_bytes / med / 1e9;
  r.counters["experts_touched"] = compute_stats(experts).median;
  if (peak_bw > 0) {
    r.counters["roofline_fraction"] = step_bytes / (peak_bw * 1e9) / med;
    r.counters[peak_key] = peak_bw;
  }
  return r;
}

Measurement paired_decode_speedup(int64_t batch, int rounds, int64_t steps,
                                  const std::function<double(engine::ForwardStats*)>& step_one,
                                  const std::function<double(engine::ForwardStats*)>& step_many) {
  if (batch < 1 || rounds < 1 || steps < 1)
    throw Error("paired_decode_speedup: batch, rounds and steps must be >= 1");
  Measurement r;
  std::vector<double> all_one, all_many, bytes_one, bytes_many;
  for (int w = 0; w < 2; ++w) {  // warm-up
    step_one(nullptr);
    step_many(nullptr);
  }
  auto run = [&](const std::function<double(engine::ForwardStats*)>& step, std::vector<double>& all,
                 std::vector<double>& bytes) {
    std::vector<double> t;
    for (int64_t s = 0; s < steps; ++s) {
      engine::ForwardStats fs;
      t.push_back(step(&fs));
      bytes.push_back(fs.weight_bytes_read + fs.cache_bytes_read);
    }
    all.insert(all.end(), t.begin(), t.end());
    return compute_stats(t).median;
  };
  for (int k = 0; k < rounds; ++k) {
    const double one = run(step_one, all_one, bytes_one);
    const double many = run(step_many, all_many, bytes_many);
    r.samples.push_back(double(batch) * one / many);
  }
  r.counters["tokens_per_s"] = double(batch) / compute_stats(all_many).median;
  r.counters["tokens_per_s_batch1"] = 1.0 / compute_stats(all_one).median;
  r.counters["bytes_ratio"] = compute_stats(bytes_many).median / std::max(1.0, compute_stats(bytes_one).median);
  r.counters["rounds"] = rounds;
  return r;
}

std::vector<int32_t> prefill_sequences(engine::Model& m, engine::KvCache& cache,
                                       const std::vector<int32_t>& seqs, int64_t context, int64_t chunk,
                                       uint64_t seed) {
  return prefill_sequences([&](const std::vector<engine::SeqInput>& in, std::vector<float>& lg) { m.forward(in, cache, lg); },
                           m.vocab(), seqs, context, chunk, seed);
}

std::vector<int32_t> prefill_sequences(const ForwardFn& forward, int64_t vocab,
                                       const std::vector<int32_t>& seqs, int64_t context, int64_t chunk,
                                       uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int32_t>> prompts(seqs.size());
  for (auto& p : prompts) {
    p.resize(size_t(context));
    for (auto& t : p) t = int32_t(rng() % uint64_t(vocab));
  }
  std::vector<int32_t> next(seqs.size(), 0);
  std::vector<int64_t> done(seqs.size(), 0);
  std::vector<float> logits;
  size_t i = 0;
  while (i < seqs.size()) {
    // Pack several sequences' chunks into one forward, up to `chunk` rows.
    std::vector<engine::SeqInput> batch;
    std::vector<size_t> owner;
    int64_t rows = 0;
    for (size_t j = i; j < seqs.size() && rows < chunk; ++j) {
      const int64_t n = std::min(context - done[j], chunk - rows);
      if (n <= 0) continue;
      batch.push_back({seqs[j], prompts[j].data() + done[j], n, done[j] + n == context});
      owner.push_back(j);
      rows += n;
    }
    forward(batch, logits);
    int64_t li = 0;
    for (size_t b = 0; b < batch.size(); ++b) {
      const size_t j = owner[b];
      done[j] += batch[b].n;
      if (batch[b].want_logits) {
        const float* l = logits.data() + li * vocab;
        next[j] = int32_t(std::max_element(l, l + vocab) - l);
        ++li;
      }
    }
    while (i < seqs.size() && done[i] == context) ++i;
  }
  return next;
}

namespace {
std::vector<Benchmark> make_suite(const SuiteContext& ctx) {
  auto holder = std::make_shared<ModelHolder>();
  holder->cfg = ctx.model;
  holder->seed = ctx.seed;
  std::vector<Benchmark> out;
  for (auto* f : {&prefill_benchmarks, &decode_benchmarks, &offline_benchmarks}) {
    auto v = (*f)(ctx, holder);
    out.insert(out.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
  }
  out.push_back(trace_overhead_benchmark(ctx, holder));
  for (auto* f : {&capacity_benchmarks, &gemm_benchmarks}) {
    auto v = (*f)(ctx);
    out.insert(out.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
  }
  if (ctx.device == "cuda") {
    auto v = cuda_benchmarks(ctx, holder);
    out.insert(out.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
  }
  return out;
}
}  // namespace

}  // namespace dsbench::suites::e2e

DSBENCH_REGISTER_SUITE({"e2e",
                        "the DeepSeek-V3-architecture engine end to end: prefill/decode tokens/s, "
                        "TTFT/TPOT/ITL, KV bytes per token and concurrency per attention mode",
                        dsbench::suites::e2e::make_suite});
