// The embedded engine behind the TokenStreamBackend interface: owns a synthetic-weight model, its
// paged KV cache and the continuous-batching scheduler, and runs the engine loop on one thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dsbench/config.h"
#include "serving/backend.h"

namespace dsbench::engine {
class Model;
class KvCache;
class Scheduler;
}  // namespace dsbench::engine

namespace dsbench::serving {

struct EngineBackendOptions {
  uint64_t seed = 1234;                  // synthetic weights
  std::string attention = "mla_absorbed"; // engine::AttentionMode name
  int64_t kv_budget_bytes = int64_t(256) << 20;
  int64_t max_running = 64;
  int64_t max_step_tokens = 512;
};

class EngineBackend final : public TokenStreamBackend {
 public:
  // Builds the model (synthetic weights) and starts the engine thread. UsageError on a config
  // the engine cannot run.
  EngineBackend(const ModelConfig& cfg, EngineBackendOptions opts = {});
  ~EngineBackend() override;
  std::string name() const override { return "engine"; }
  int64_t max_context() const override { return max_context_; }
  int64_t vocab_size() const override { return vocab_; }
  uint64_t submit(GenerationRequest req, TokenSink sink) override;
  void cancel(uint64_t id) override;
  BackendStats stats() const override;
  void shutdown() override;

 private:
  void loop();

  std::unique_ptr<engine::Model> model_;
  std::unique_ptr<engine::KvCache> cache_;
  std::unique_ptr<engine::Scheduler> sched_;
  int64_t max_context_ = 0, vocab_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, wake_ = false;
  // A request's sink, with its own lock so that cancel() can wait out a call in progress.
  struct Entry {
    std::mutex m;
    TokenSink sink;
    bool live = true;
  };
  std::map<uint64_t, std::shared_ptr<Entry>> entries_;  // requests whose sink may still be called
  std::thread thread_;
};

}  // namespace dsbench::serving
