// e2e on the device engine (engine::CudaModel) under --device cuda: decode steps and prefill, each
// sample timed with CUDA events on the engine's stream. Same shapes and counters as the CPU
// decode/prefill benchmarks (params add "device": "cuda"); skipped without a usable device.
#include <algorithm>

#include "common/cuda_benchmark.h"
#include "dsbench/engine/cuda_model.h"
#include "dsbench/host.h"
#include "dsbench/kernels/cuda/timing.h"
#include "dsbench/stats.h"
#include "dsbench/trace.h"
#include "e2e/e2e_common.h"

namespace dsbench::suites::e2e {

namespace {
// A bf16 cache of whole 64-token blocks for `seqs` sequences of up to `tokens` tokens.
engine::CudaModelOptions device_cache(int64_t seqs, int64_t tokens) {
  engine::CudaModelOptions o;
  o.cache_dtype = kernels::DType::kBF16;
  o.block_size = 64;
  o.cache_tokens = seqs * ((tokens + o.block_size - 1) / o.block_size + 1) * o.block_size;
  return o;
}

ForwardFn forward_of(engine::CudaModel& gpu) {
  return [&gpu](const std::vector<engine::SeqInput>& in, std::vector<float>& lg) {
    gpu.forward(in, lg);
  };
}
}  // namespace

std::vector<Benchmark> cuda_benchmarks(const SuiteContext& ctx, std::shared_ptr<ModelHolder> h) {
  const std::string skip = engine_skip_reason(ctx.model);
  const auto batches = int_list_option(
      ctx.options, "cuda_batches",
      ctx.quick ? std::vector<int64_t>{1, 4} : std::vector<int64_t>{1, 4, 16, 64, 256});
  const int64_t context =
      int_list_option(ctx.options, "decode_context", {ctx.quick ? 16 : 128}).at(0);
  const int64_t steps = int_list_option(ctx.options, "decode_steps", {ctx.quick ? 4 : 24}).at(0);
  const auto lengths = int_list_option(
      ctx.options, "prompt_lengths",
      ctx.quick ? std::vector<int64_t>{128} : std::vector<int64_t>{128, 512, 2048, 8192});
  const int64_t chunk = int_list_option(ctx.options, "prefill_chunk", {512}).at(0);
  const double peak_bw = peak_bandwidth_gbps(ctx.host, "cuda");
  std::vector<Benchmark> out;

  for (int64_t batch : batches) {
    Benchmark b = cuda_benchmark(
        ctx, "decode",
        {{"batch", batch}, {"context", context}, {"mode", "mla_absorbed"}, {"dtype", "bf16"}});
    b.manual_time = false;  // measured: each sample is one whole step between two CUDA events
    b.direction = Direction::kLower;
    if (b.skipped.empty()) b.skipped = skip;
    b.measure = [h, batch, context, steps, peak_bw, seed = ctx.seed]() {
      engine::Model& m = h->get();
      engine::CudaModel gpu(m, device_cache(batch, context + steps + 4));
      std::vector<int32_t> seqs;
      for (int64_t i = 0; i < batch; ++i) seqs.push_back(gpu.add_sequence());
      std::vector<int32_t> tok =
          prefill_sequences(forward_of(gpu), gpu.vocab(), seqs, context, 512, seed);
      std::vector<float> logits;
      std::vector<engine::SeqInput> in(static_cast<size_t>(batch));
      kernels::cuda::EventTimer timer;
      return measure_decode_steps(batch, steps, peak_bw, "peak_copy_gbps", [&](engine::ForwardStats* fs) {
        for (size_t i = 0; i < seqs.size(); ++i) in[i] = {seqs[i], &tok[i], 1, true};
        timer.start(gpu.stream());
        {
          DSBENCH_TRACE_SCOPE("engine/decode_step");
          gpu.forward(in, logits, fs);  // returns with the logits on the host
        }
        const double t = timer.stop_seconds(gpu.stream());
        greedy_next_tokens(logits, gpu.vocab(), tok);
        return t;
      });
    };
    out.push_back(std::move(b));
  }

  for (int64_t len : lengths) {
    Benchmark b = cuda_benchmark(
        ctx, "prefill",
        {{"prompt", len}, {"chunk", chunk}, {"mode", "mla_absorbed"}, {"dtype", "bf16"}});
    b.manual_time = false;
    b.direction = Direction::kLower;
    if (b.skipped.empty()) b.skipped = skip;
    const int reps = ctx.quick ? 1 : (len >= 4096 ? 2 : 3);
    b.measure = [h, len, chunk, reps, seed = ctx.seed]() {
      engine::Model& m = h->get();
      engine::CudaModel gpu(m, device_cache(1, len));
      // Warm-up (cuBLAS heuristics, lazy module loading) on a short prompt of its own.
      int32_t seq = gpu.add_sequence();
      prefill_sequences(forward_of(gpu), gpu.vocab(), {seq}, std::min<int64_t>(len, 64), chunk,
                        seed ^ 0x5a5a);
      gpu.free_sequence(seq);
      kernels::cuda::EventTimer timer;
      Measurement r;
      for (int rep = 0; rep < reps; ++rep) {
        seq = gpu.add_sequence();  // a fresh sequence: the pool's blocks were all returned
        timer.start(gpu.stream());
        {
          DSBENCH_TRACE_SCOPE("engine/prefill");
          prefill_sequences(forward_of(gpu), gpu.vocab(), {seq}, len, chunk, seed + uint64_t(rep));
        }
        r.samples.push_back(timer.stop_seconds(gpu.stream()));
        gpu.free_sequence(seq);
      }
      r.counters["tokens_per_s"] = double(len) / compute_stats(r.samples).median;
      return r;
    };
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace dsbench::suites::e2e
