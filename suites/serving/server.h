// An OpenAI-compatible HTTP server over a TokenStreamBackend: /v1/completions and
// /v1/chat/completions (streaming SSE and not), /v1/models, /health, /metrics (Prometheus text).
// Asynchronous (Boost.Beast/Asio, C++20 coroutines) on one I/O thread: no thread per connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "serving/backend.h"

namespace dsbench::serving {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless asked otherwise
  uint16_t port = 8000;            // 0: any free port (see Server::port())
  std::string model_name = "dsv3-tiny";
  // Requests in flight (running + queued) beyond which new ones get 503; 0 queues without limit.
  int64_t max_inflight = 0;
  int64_t default_max_tokens = 16;
  int64_t max_body_bytes = 8 << 20;
  double idle_timeout_s = 120;     // an idle keep-alive connection is closed after this
};

class Server {
 public:
  Server(ServerOptions opts, std::shared_ptr<TokenStreamBackend> backend);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens, then serves on its own I/O thread. Throws dsbench::Error when it cannot
  // bind (the message names the address). Returns the bound port.
  uint16_t start();
  uint16_t port() const;
  // Closes the listener and every connection (in-flight requests are cancelled, freeing their KV
  // blocks) and joins the I/O thread. Idempotent.
  void stop();
  // The /metrics body.
  std::string metrics_text() const;
  // Requests accepted and not yet finished.
  int64_t inflight() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsbench::serving
