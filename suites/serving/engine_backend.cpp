// Adapter from the engine's scheduler to TokenStreamBackend (see engine_backend.h).
#include "serving/engine_backend.h"

#include <chrono>

#include "dsbench/engine/kv_cache.h"
#include "dsbench/engine/model.h"
#include "dsbench/engine/scheduler.h"
#include "dsbench/error.h"

namespace dsbench::serving {

namespace {
FinishReason map_reason(engine::FinishReason r) {
  switch (r) {
    case engine::FinishReason::kLength: return FinishReason::kLength;
    case engine::FinishReason::kEos: return FinishReason::kStop;
    case engine::FinishReason::kCancelled: return FinishReason::kAbort;
    case engine::FinishReason::kRejected: return FinishReason::kError;
    case engine::FinishReason::kNone: break;
  }
  return FinishReason::kNone;
}
}  // namespace

EngineBackend::EngineBackend(const ModelConfig& cfg, EngineBackendOptions opts) {
  model_ = engine::Model::synthetic(cfg, opts.seed);
  engine::KvCacheOptions ko;
  ko.mode = engine::parse_attention_mode(opts.attention);
  ko.budget_bytes = opts.kv_budget_bytes;
  cache_ = std::make_unique<engine::KvCache>(cfg, ko);
  engine::SchedulerOptions so;
  so.max_running = opts.max_running;
  so.max_step_tokens = opts.max_step_tokens;
  if (cfg.raw.contains("eos_token_id") && cfg.raw["eos_token_id"].is_number_integer())
    so.eos_token_id = cfg.raw["eos_token_id"].get<int64_t>();
  sched_ = std::make_unique<engine::Scheduler>(*model_, *cache_, so);
  vocab_ = cfg.vocab_size;
  const auto s = sched_->stats();
  max_context_ = std::min<int64_t>(cfg.max_position_embeddings, s.kv_blocks_total * cache_->block_size());
  thread_ = std::thread([this] { loop(); });
}

EngineBackend::~EngineBackend() { shutdown(); }

uint64_t EngineBackend::submit(GenerationRequest req, TokenSink sink) {
  engine::RequestSpec spec;
  spec.prompt = std::move(req.prompt);
  spec.max_tokens = req.max_tokens;
  spec.ignore_eos = req.ignore_eos;
  spec.sampling.temperature = static_cast<float>(req.temperature);
  spec.sampling.top_p = static_cast<float>(req.top_p);
  spec.sampling.seed = req.seed;
  {
    std::lock_guard lk(mu_);
    if (stop_) {
      sink(TokenEvent{{}, FinishReason::kAbort, "server shutting down"});
      return 0;
    }
  }
  auto entry = std::make_shared<Entry>();
  entry->sink = std::move(sink);
  spec.on_token = [this, entry](const engine::TokenEvent& ev) {
    TokenEvent out;
    if (ev.token >= 0) out.tokens.push_back(ev.token);
    if (ev.finished) {
      out.finish = map_reason(ev.reason);
      if (ev.reason == engine::FinishReason::kRejected)
        out.error = "rejected by the scheduler (queue full, or prompt + max_tokens exceed the KV cache)";
    }
    {
      std::lock_guard lk(entry->m);
      if (!entry->live) return;  // cancelled: no calls after cancel()
      entry->sink(std::move(out));
      if (!ev.finished) return;
      entry->live = false;
    }
    std::lock_guard lk(mu_);
    entries_.erase(ev.request_id);
  };
  uint64_t id = 0;
  try {
    id = sched_->submit(std::move(spec));
  } catch (const std::exception& e) {
    entry->sink(TokenEvent{{}, FinishReason::kError, e.what()});
    return 0;
  }
  {
    // A request rejected inside submit() has already finished; do not keep its entry.
    std::lock_guard le(entry->m);
    if (!entry->live) return id;
    std::lock_guard lk(mu_);
    entries_.emplace(id, entry);
    wake_ = true;
  }
  cv_.notify_one();
  return id;
}

void EngineBackend::cancel(uint64_t id) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard lk(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    entry = it->second;
    entries_.erase(it);
    wake_ = true;
  }
  {
    std::lock_guard le(entry->m);
    entry->live = false;
  }
  sched_->cancel(id);  // blocks are freed at the next step, which the wake-up runs
  cv_.notify_one();
}

BackendStats EngineBackend::stats() const {
  auto s = sched_->stats();
  BackendStats b;
  b.running = s.running;
  b.waiting = s.queued;
  b.kv_blocks_used = s.kv_blocks_used;
  b.kv_blocks_total = s.kv_blocks_total;
  b.prompt_tokens = s.prefill_tokens;
  b.generated_tokens = s.decode_tokens;
  b.steps = s.steps;
  return b;
}

void EngineBackend::shutdown() {
  {
    std::lock_guard lk(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::map<uint64_t, std::shared_ptr<Entry>> left;
  {
    std::lock_guard lk(mu_);
    left.swap(entries_);
  }
  for (auto& [id, e] : left) {
    std::lock_guard le(e->m);
    if (e->live) e->sink(TokenEvent{{}, FinishReason::kAbort, "server shutting down"});
    e->live = false;
  }
}

void EngineBackend::loop() {
  int64_t n = 0;
  for (;;) {
    {
      std::lock_guard lk(mu_);
      if (stop_) break;
    }
    bool did = false;
    try {
      did = sched_->step();
    } catch (const std::exception& e) {
      // A failing step ends every request with the error rather than the process.
      std::map<uint64_t, std::shared_ptr<Entry>> left;
      {
        std::lock_guard lk(mu_);
        left.swap(entries_);
      }
      for (auto& [id, entry] : left) {
        {
          std::lock_guard le(entry->m);
          if (entry->live) entry->sink(TokenEvent{{}, FinishReason::kError, std::string("engine step failed: ") + e.what()});
          entry->live = false;
        }
        sched_->cancel(id);
      }
    }
    if (!did || ++n % 64 == 0) sched_->take_finished();  // results are not needed here
    if (!did) {
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, std::chrono::milliseconds(50), [&] { return stop_ || wake_; });
      wake_ = false;
    }
  }
}

}  // namespace dsbench::serving
