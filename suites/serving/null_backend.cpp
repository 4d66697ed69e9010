// The null backend's step loop (see null_backend.h) and the byte-level tokenisation helpers.
#include "serving/null_backend.h"

#include <chrono>
#include <vector>

namespace dsbench::serving {

const char* to_string(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAbort: return "abort";
    case FinishReason::kError: return "error";
    case FinishReason::kNone: break;
  }
  return "";
}

std::vector<int32_t> tokenize_bytes(const std::string& text) {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
  return ids;
}

char detokenize_byte(int32_t token) {
  // Printable ASCII keeps every response valid UTF-8 whatever ids a model produces.
  int64_t t = token < 0 ? -static_cast<int64_t>(token) : token;
  return static_cast<char>(' ' + t % 95);
}

NullBackend::NullBackend(NullBackendOptions opts) : opts_(opts) {
  stats_.kv_blocks_total = opts_.kv_blocks_total;
  thread_ = std::thread([this] { loop(); });
}

NullBackend::~NullBackend() { shutdown(); }

int64_t NullBackend::blocks_for(int64_t tokens) const {
  return (tokens + opts_.kv_block_size - 1) / opts_.kv_block_size;
}

uint64_t NullBackend::submit(GenerationRequest req, TokenSink sink) {
  std::lock_guard lk(mu_);
  uint64_t id = next_id_++;
  if (stop_) {
    sink(TokenEvent{{}, FinishReason::kAbort, "server shutting down"});
    return id;
  }
  stats_.prompt_tokens += static_cast<int64_t>(req.prompt.size());
  seqs_.emplace(id, Seq{std::move(req), std::move(sink)});
  waiting_.push_back(id);
  cv_.notify_one();
  return id;
}

void NullBackend::cancel(uint64_t id) {
  std::lock_guard lk(mu_);
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  stats_.kv_blocks_used -= it->second.blocks;
  seqs_.erase(it);
  running_.erase(id);
  for (auto w = waiting_.begin(); w != waiting_.end(); ++w)
    if (*w == id) {
      waiting_.erase(w);
      break;
    }
}

BackendStats NullBackend::stats() const {
  std::lock_guard lk(mu_);
  BackendStats s = stats_;
  s.running = static_cast<int64_t>(running_.size());
  s.waiting = static_cast<int64_t>(waiting_.size());
  return s;
}

void NullBackend::shutdown() {
  {
    std::lock_guard lk(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lk(mu_);
  for (auto& [id, seq] : seqs_) seq.sink(TokenEvent{{}, FinishReason::kAbort, "server shutting down"});
  seqs_.clear();
  running_.clear();
  waiting_.clear();
  stats_.kv_blocks_used = 0;
}

void NullBackend::loop() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    // Admit waiting requests while the batch and the KV pool have room (prompt + first token).
    while (!waiting_.empty() && static_cast<int64_t>(running_.size()) < opts_.max_num_seqs) {
      Seq& s = seqs_.at(waiting_.front());
      int64_t need = blocks_for(static_cast<int64_t>(s.req.prompt.size()) + 1);
      if (stats_.kv_blocks_used + need > opts_.kv_blocks_total && !running_.empty()) break;
      s.blocks = need;
      stats_.kv_blocks_used += need;
      running_.emplace(waiting_.front(), true);
      waiting_.pop_front();
    }
    if (running_.empty()) {
      cv_.wait(lk, [&] { return stop_ || !waiting_.empty(); });
      continue;
    }
    // One decode step: every running sequence gets one token.
    for (auto it = running_.begin(); it != running_.end();) {
      uint64_t id = it->first;
      Seq& s = seqs_.at(id);
      int32_t tok = static_cast<int32_t>('a' - ' ' + s.generated % 26);  // shows as a..z
      ++s.generated;
      ++stats_.generated_tokens;
      int64_t need = blocks_for(static_cast<int64_t>(s.req.prompt.size()) + s.generated);
      stats_.kv_blocks_used += need - s.blocks;
      s.blocks = need;
      bool done = s.generated >= s.req.max_tokens;
      s.sink(TokenEvent{{tok}, done ? FinishReason::kLength : FinishReason::kNone, {}});
      if (done) {
        stats_.kv_blocks_used -= s.blocks;
        seqs_.erase(id);
        it = running_.erase(it);
      } else {
        ++it;
      }
    }
    ++stats_.steps;
    if (opts_.step_seconds > 0) {
      // Sleep outside the lock so submit/cancel are not held up by the simulated step.
      lk.unlock();
      std::this_thread::sleep_for(std::chrono::duration<double>(opts_.step_seconds));
      lk.lock();
    } else {
      // Let submit/cancel in between steps.
      lk.unlock();
      std::this_thread::yield();
      lk.lock();
    }
  }
}

}  // namespace dsbench::serving
