// The small interface between the OpenAI server and whatever generates tokens (the null backend,
// the embedded engine): submit a request, receive its tokens as a stream, cancel, read stats.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dsbench::serving {

enum class FinishReason { kNone, kStop, kLength, kAbort, kError };
// OpenAI spelling: "stop", "length", "abort", "error"; "" for kNone.
const char* to_string(FinishReason r);

struct GenerationRequest {
  std::vector<int32_t> prompt;  // token ids
  int64_t max_tokens = 16;
  bool ignore_eos = false;
  double temperature = 1.0;  // 0 = greedy
  double top_p = 1.0;
  uint64_t seed = 0;
};

// One delivery to a sink: new tokens (possibly none) and, on the last one, the finish reason.
struct TokenEvent {
  std::vector<int32_t> tokens;
  FinishReason finish = FinishReason::kNone;
  std::string error;  // set with kError
};

// Called on the backend's thread; must not block (the server posts the event to its own loop).
using TokenSink = std::function<void(TokenEvent&&)>;

struct BackendStats {
  int64_t running = 0;           // sequences in the running batch
  int64_t waiting = 0;           // queued, not yet admitted (queue depth)
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_total = 0;
  int64_t prompt_tokens = 0;     // totals since start
  int64_t generated_tokens = 0;
  int64_t steps = 0;
};

class TokenStreamBackend {
 public:
  virtual ~TokenStreamBackend() = default;
  virtual std::string name() const = 0;  // "null", "engine"
  // Longest prompt + max_tokens a request may ask for.
  virtual int64_t max_context() const = 0;
  // Token ids a prompt may hold are [0, vocab_size()).
  virtual int64_t vocab_size() const = 0;
  // Queues a request; the sink then receives its tokens, the last event carrying the finish
  // reason. Returns the request's id. Thread-safe.
  virtual uint64_t submit(GenerationRequest req, TokenSink sink) = 0;
  // Stops a request and frees its KV blocks. After cancel returns the sink is not called again.
  // Unknown or finished ids are ignored. Thread-safe.
  virtual void cancel(uint64_t id) = 0;
  virtual BackendStats stats() const = 0;
  // Stops the loop; pending requests end with kAbort. Idempotent.
  virtual void shutdown() = 0;
};

// Byte-level tokenisation shared by the server and the backends: a prompt's UTF-8 bytes are its
// token ids (0..255); an output id is shown as one printable ASCII character, so one token is one
// character of text and chunk counts equal token counts.
std::vector<int32_t> tokenize_bytes(const std::string& text);
char detokenize_byte(int32_t token);

}  // namespace dsbench::serving
