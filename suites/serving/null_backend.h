// A backend that streams tokens without compute: a continuous-batching loop that admits requests,
// emits one token per running sequence per step and keeps KV-block accounting, so the server and
// the load client can be measured (and tested) without a model.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "serving/backend.h"

namespace dsbench::serving {

struct NullBackendOptions {
  int64_t max_num_seqs = 256;        // running batch size
  int64_t kv_block_size = 16;        // tokens per block
  int64_t kv_blocks_total = 65536;
  int64_t max_context = 1 << 20;
  int64_t vocab_size = 1 << 20;
  double step_seconds = 0;           // simulated time per step (0: as fast as possible)
};

class NullBackend final : public TokenStreamBackend {
 public:
  explicit NullBackend(NullBackendOptions opts = {});
  ~NullBackend() override;
  std::string name() const override { return "null"; }
  int64_t max_context() const override { return opts_.max_context; }
  int64_t vocab_size() const override { return opts_.vocab_size; }
  uint64_t submit(GenerationRequest req, TokenSink sink) override;
  void cancel(uint64_t id) override;
  BackendStats stats() const override;
  void shutdown() override;

 private:
  struct Seq {
    GenerationRequest req;
    TokenSink sink;
    int64_t generated = 0;
    int64_t blocks = 0;
  };
  void loop();
  int64_t blocks_for(int64_t tokens) const;

  NullBackendOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t next_id_ = 1;
  std::deque<uint64_t> waiting_;
  std::map<uint64_t, Seq> seqs_;  // waiting and running
  std::map<uint64_t, bool> running_;
  BackendStats stats_;
  std::thread thread_;
};

}  // namespace dsbench::serving
