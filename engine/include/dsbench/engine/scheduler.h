// Continuous-batching scheduler: a request queue, admission against the paged KV cache's byte
// budget (reserve-on-admit, never overcommits), chunked prefill and decode batches that requests
// join and leave every step, per-request timestamps for TTFT / TPOT / ITL.
//
// Threading: the engine loop (step(), run_until_idle()) runs on ONE thread. submit(), cancel(),
// stats(), idle() and take_finished() are safe from any thread (they only touch the inbox and a
// stats snapshot under a mutex). on_token callbacks run on the engine thread inside step(); they
// must be quick and must not call step() (calling submit/cancel from them is fine).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dsbench/engine/sampler.h"

namespace dsbench::engine {

class Model;
class KvCache;

enum class FinishReason { kNone, kLength, kEos, kCancelled, kRejected };
const char* to_string(FinishReason r);

// One generated token (or the end of a request). Delivered to RequestSpec::on_token.
struct TokenEvent {
  uint64_t request_id = 0;
  int32_t token = -1;      // -1 on events that carry no token (cancelled, rejected)
  int64_t index = 0;       // 0-based position in the output
  bool finished = false;   // last event of this request
  FinishReason reason = FinishReason::kNone;
  int64_t time_ns = 0;     // trace::now_ns() clock
};

struct RequestSpec {
  std::vector<int32_t> prompt;  // token ids, non-empty, each < vocab
  int64_t max_tokens = 16;      // >= 1
  bool ignore_eos = false;      // keep generating past eos_token_id (benchmarks)
  SamplingParams sampling;
  std::function<void(const TokenEvent&)> on_token;  // optional; called on the engine thread
};

struct RequestResult {
  uint64_t id = 0;
  int64_t prompt_tokens = 0;
  std::vector<int32_t> output;
  FinishReason reason = FinishReason::kNone;
  int64_t arrival_ns = 0;          // submit()
  int64_t first_scheduled_ns = 0;  // admitted and first prefill chunk ran
  std::vector<int64_t> token_ns;   // time each output token was produced (token_ns[0] = TTFT end)
  double ttft_s() const;           // token_ns[0] - arrival
  double tpot_s() const;           // (last - first) / (n - 1); 0 when n < 2
};

struct SchedulerOptions {
  int64_t max_step_tokens = 512;   // tokens per forward (decode rows + prefill chunk rows)
  int64_t max_running = 64;        // sequences in the running batch
  int64_t max_queue = 100000;      // submit() rejects beyond this many waiting requests
  int64_t eos_token_id = -1;       // -1: none; from the config's eos_token_id by default
};

struct SchedulerStats {
  int64_t queued = 0, running = 0, finished = 0, rejected = 0, cancelled = 0;
  int64_t kv_blocks_used = 0, kv_blocks_total = 0;
  int64_t kv_bytes_used = 0, kv_bytes_budget = 0;
  int64_t steps = 0, prefill_tokens = 0, decode_tokens = 0;
  int64_t peak_running = 0, peak_kv_blocks_used = 0;
};

class Scheduler {
 public:
  // The model and cache outlive the scheduler; the cache must have been made for this model.
  Scheduler(Model& model, KvCache& cache, SchedulerOptions opts = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request; returns its id. A request that can never fit the cache (prompt +
  // max_tokens above the whole budget) or arrives when the queue is full finishes at once with
  // kRejected (its on_token gets one finished event). Bad token ids throw UsageError. Any thread.
  uint64_t submit(RequestSpec spec);
  // Cancels a queued or running request; its KV blocks are freed at the next step. Any thread.
  void cancel(uint64_t id);

  // One engine iteration: admit, run one forward over decode rows and prefill chunks, sample,
  // retire finished requests. Returns false when there was nothing to do. Engine thread only.
  bool step();
  // Steps until queue and batch are empty. Engine thread only.
  void run_until_idle();

  bool idle() const;                          // any thread
  SchedulerStats stats() const;               // any thread
  std::vector<RequestResult> take_finished(); // any thread: results finished since the last call

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsbench::engine
