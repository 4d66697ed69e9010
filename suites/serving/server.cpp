// The OpenAI-compatible server (see server.h): one coroutine per connection on a single I/O
// thread; backend tokens arrive through posted events and are written as SSE chunks.
#include "serving/server.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <unordered_map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "dsbench/error.h"
#include "serving/openai_api.h"

namespace dsbench::serving {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
  }
  return "Error";
}

std::string http_response(int status, const std::string& content_type, const std::string& body,
                          bool keep_alive, const std::string& extra_headers = {}) {
  std::string s = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) +
                  "\r\nServer: dsbench\r\nContent-Type: " + content_type +
                  "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers;
  if (!keep_alive) s += "Connection: close\r\n";
  return s + "\r\n" + body;
}

void append_http_chunk(std::string& out, const std::string& body) {
  if (body.empty()) return;
  char hex[20];
  std::snprintf(hex, sizeof hex, "%zx\r\n", body.size());
  out += hex;
  out += body;
  out += "\r\n";
}

// Events of one request, filled by the backend's sink (via post) and drained by the connection.
struct RequestStream {
  explicit RequestStream(net::any_io_executor ex) : signal(ex) {}
  std::deque<TokenEvent> events;
  net::steady_timer signal;  // cancelled to wake the connection
  bool client_gone = false;
  bool done = false;
};

struct Conn {
  explicit Conn(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
};

}  // namespace

struct Server::Impl {
  ServerOptions opts;
  std::shared_ptr<TokenStreamBackend> backend;
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread thread;
  uint16_t port = 0;
  bool started = false, stopped = false;

  // Owned by the I/O thread.
  std::unordered_map<Conn*, std::weak_ptr<Conn>> conns;
  uint64_t next_response_id = 1;
  // Backend ids of requests in flight; guarded because stop() cancels them from its caller.
  mutable std::mutex active_mu;
  std::map<uint64_t, bool> active;

  std::atomic<int64_t> inflight{0};
  std::atomic<int64_t> n_success{0}, n_bad_request{0}, n_rejected{0}, n_cancelled{0}, n_error{0};
  std::atomic<int64_t> prompt_tokens{0}, generation_tokens{0};

  net::awaitable<void> listen();
  net::awaitable<void> session(tcp::socket sock);
  net::awaitable<bool> handle(std::shared_ptr<Conn> conn, http::request<http::string_body>& req,
                              bool keep_alive);
  net::awaitable<bool> generate(std::shared_ptr<Conn> conn, Endpoint endpoint,
                                const std::string& body, bool keep_alive);
  net::awaitable<bool> send(std::shared_ptr<Conn> conn, const std::string& bytes) {
    error_code ec;
    conn->stream.expires_after(idle());
    co_await net::async_write(conn->stream, net::buffer(bytes), net::redirect_error(net::use_awaitable, ec));
    co_return !ec;
  }
  std::string metrics_text() const;
  std::chrono::steady_clock::duration idle() const {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(opts.idle_timeout_s));
  }
};

net::awaitable<void> Server::Impl::listen() {
  for (;;) {
    error_code ec;
    tcp::socket sock(ioc);
    co_await acceptor.async_accept(sock, net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (!acceptor.is_open()) co_return;
      continue;  // e.g. too many open files: keep serving the connections we have
    }
    sock.set_option(tcp::no_delay(true), ec);
    net::co_spawn(ioc, session(std::move(sock)), net::detached);
  }
}

net::awaitable<void> Server::Impl::session(tcp::socket sock) {
  auto conn = std::make_shared<Conn>(std::move(sock));
  conns.emplace(conn.get(), conn);
  beast::flat_buffer buf;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(static_cast<uint64_t>(opts.max_body_bytes));
    parser.header_limit(64 * 1024);
    conn->stream.expires_after(idle());
    error_code ec;
    co_await http::async_read(conn->stream, buf, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset)
      break;
    if (ec) {
      const bool too_big = ec == http::error::body_limit || ec == http::error::header_limit;
      ApiError err(too_big ? 413 : 400, "malformed HTTP request: " + ec.message());
      ++n_bad_request;
      co_await send(conn, http_response(err.status, "application/json", err.body(), false));
      break;
    }
    auto req = parser.release();
    const bool keep_alive = req.keep_alive();
    bool ok = co_await handle(conn, req, keep_alive);
    if (!ok || !keep_alive) break;
  }
  error_code ec;
  conn->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  conn->stream.socket().close(ec);
  conns.erase(conn.get());
}

net::awaitable<bool> Server::Impl::handle(std::shared_ptr<Conn> conn,
                                          http::request<http::string_body>& req, bool keep_alive) {
  std::string target(req.target());
  if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
  const bool get = req.method() == http::verb::get, post = req.method() == http::verb::post;
  auto json_reply = [&](int status, const std::string& body) {
    return http_response(status, "application/json", body, keep_alive);
  };
  if (target == "/health" && get) co_return co_await send(conn, json_reply(200, "{\"status\":\"ok\"}"));
  if (target == "/metrics" && get)
    co_return co_await send(conn, http_response(200, "text/plain; version=0.0.4", metrics_text(), keep_alive));
  if (target == "/v1/models" && get) {
    nlohmann::json m = {{"object", "list"},
                        {"data", {{{"id", opts.model_name}, {"object", "model"}, {"created", 0},
                                   {"owned_by", "dsbench"}, {"max_model_len", backend->max_context()},
                                   {"backend", backend->name()}}}}};
    co_return co_await send(conn, json_reply(200, m.dump()));
  }
  if (target == "/v1/completions" || target == "/v1/chat/completions") {
    if (!post) {
      ++n_bad_request;
      co_return co_await send(conn, http_response(405, "application/json", ApiError(405, "use POST").body(),
                                                  keep_alive, "Allow: POST\r\n"));
    }
    co_return co_await generate(conn, target == "/v1/chat/completions" ? Endpoint::kChat : Endpoint::kCompletions,
                                req.body(), keep_alive);
  }
  ++n_bad_request;
  co_return co_await send(conn, json_reply(404, ApiError(404, "no route " + target, "NotFoundError").body()));
}

net::awaitable<bool> Server::Impl::generate(std::shared_ptr<Conn> conn, Endpoint endpoint,
                                            const std::string& body, bool keep_alive) {
  ApiRequest ar;
  std::string rejection;  // a 4xx response, built outside the catch (no co_await there)
  try {
    ar = parse_api_request(endpoint, body,
                           {opts.model_name, backend->max_context(), backend->vocab_size(),
                            opts.default_max_tokens});
  } catch (const ApiError& e) {
    rejection = http_response(e.status, "application/json", e.body(), keep_alive);
  }
  if (!rejection.empty()) {
    ++n_bad_request;
    co_return co_await send(conn, rejection);
  }
  if (opts.max_inflight > 0 && inflight.load() >= opts.max_inflight) {
    ++n_rejected;
    ApiError e(503, "server over capacity: " + std::to_string(inflight.load()) +
                        " requests in flight (--max-inflight " + std::to_string(opts.max_inflight) + ")",
               "ServiceUnavailableError");
    co_return co_await send(conn, http_response(503, "application/json", e.body(), keep_alive, "Retry-After: 1\r\n"));
  }

  const int64_t n_prompt = static_cast<int64_t>(ar.gen.prompt.size());
  auto st = std::make_shared<RequestStream>(ioc.get_executor());
  st->signal.expires_at(net::steady_timer::time_point::max());
  ++inflight;
  prompt_tokens += n_prompt;
  uint64_t id = backend->submit(ar.gen, [st, ex = ioc.get_executor()](TokenEvent&& ev) {
    net::post(ex, [st, ev = std::move(ev)]() mutable {
      st->events.push_back(std::move(ev));
      st->signal.cancel();
    });
  });
  {
    std::lock_guard lk(active_mu);
    active.emplace(id, true);
  }
  // A closed client makes the socket readable with nothing to read: that frees the request.
  conn->stream.socket().async_wait(tcp::socket::wait_read, [st, conn](error_code ec) {
    if (st->done) return;
    error_code ec2;
    if (ec || conn->stream.socket().available(ec2) == 0) {
      st->client_gone = true;
      st->signal.cancel();
    }
  });

  const std::string prefix = endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-";
  ResponseWriter writer(endpoint, prefix + std::to_string(next_response_id++), opts.model_name,
                        std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count());
  std::string out, text, error;
  if (ar.stream) {
    out = "HTTP/1.1 200 OK\r\nServer: dsbench\r\nContent-Type: text/event-stream\r\n"
          "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n";
    if (!keep_alive) out += "Connection: close\r\n";
    out += "\r\n";
    if (endpoint == Endpoint::kChat) append_http_chunk(out, writer.role_chunk(ar.include_usage));
  }
  int64_t generated = 0;
  FinishReason finish = FinishReason::kNone;
  bool write_ok = true;
  while (true) {
    std::string sse;
    while (!st->events.empty() && finish == FinishReason::kNone) {
      TokenEvent ev = std::move(st->events.front());
      st->events.pop_front();
      std::string piece;
      piece.reserve(ev.tokens.size());
      for (int32_t t : ev.tokens) piece += detokenize_byte(t);
      generated += static_cast<int64_t>(ev.tokens.size());
      finish = ev.finish;
      if (finish == FinishReason::kError) error = ev.error.empty() ? "backend error" : ev.error;
      if (!ar.stream) {
        text += piece;
      } else if (finish == FinishReason::kError) {
        sse += "data: " + ApiError(500, error, "InternalServerError").body() + "\n\n";
      } else if (!piece.empty() || finish != FinishReason::kNone) {
        sse += writer.chunk(piece, finish, ar.include_usage);
      }
    }
    if (ar.stream) {
      if (finish != FinishReason::kNone) {
        if (ar.include_usage) sse += writer.usage_chunk(n_prompt, generated);
        sse += "data: [DONE]\n\n";
      }
      append_http_chunk(out, sse);
      if (finish != FinishReason::kNone) out += "0\r\n\r\n";
      if (!out.empty()) {
        write_ok = co_await send(conn, out);
        out.clear();
        if (!write_ok) break;
      }
    }
    if (finish != FinishReason::kNone || st->client_gone) break;
    if (!st->events.empty()) continue;  // more arrived while writing: no wake-up will come for them
    error_code ec;
    st->signal.expires_at(net::steady_timer::time_point::max());
    co_await st->signal.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
  st->done = true;
  {
    error_code ec;
    conn->stream.socket().cancel(ec);  // the disconnect watcher
  }
  generation_tokens += generated;
  --inflight;
  {
    std::lock_guard lk(active_mu);
    active.erase(id);
  }
  if (finish == FinishReason::kNone || !write_ok) {
    if (finish == FinishReason::kNone) backend->cancel(id);  // client gone: free its KV blocks now
    ++n_cancelled;
    co_return false;
  }
  if (finish == FinishReason::kError || finish == FinishReason::kAbort) ++n_error; else ++n_success;
  if (ar.stream) co_return write_ok;
  if (finish == FinishReason::kError)
    co_return co_await send(conn, http_response(500, "application/json",
                                                ApiError(500, error, "InternalServerError").body(), keep_alive));
  co_return co_await send(conn, http_response(200, "application/json",
                                              writer.full(text, finish, n_prompt, generated), keep_alive));
}

std::string Server::Impl::metrics_text() const {
  BackendStats b = backend->stats();
  std::string s;
  auto metric = [&](const char* name, const char* type, const char* help, const std::string& rows) {
    s += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + rows;
  };
  auto row = [](const std::string& name, int64_t v) { return name + " " + std::to_string(v) + "\n"; };
  metric("dsbench_requests_total", "counter", "Generation requests by outcome.",
         row("dsbench_requests_total{outcome=\"success\"}", n_success) +
             row("dsbench_requests_total{outcome=\"bad_request\"}", n_bad_request) +
             row("dsbench_requests_total{outcome=\"rejected\"}", n_rejected) +
             row("dsbench_requests_total{outcome=\"cancelled\"}", n_cancelled) +
             row("dsbench_requests_total{outcome=\"error\"}", n_error));
  metric("dsbench_prompt_tokens_total", "counter", "Prompt tokens of accepted requests.",
         row("dsbench_prompt_tokens_total", prompt_tokens));
  metric("dsbench_generation_tokens_total", "counter", "Tokens sent to clients.",
         row("dsbench_generation_tokens_total", generation_tokens));
  metric("dsbench_requests_inflight", "gauge", "Requests accepted and not finished.",
         row("dsbench_requests_inflight", inflight));
  metric("dsbench_num_requests_running", "gauge", "Sequences in the running batch.",
         row("dsbench_num_requests_running", b.running));
  metric("dsbench_num_requests_waiting", "gauge", "Queue depth: requests waiting for admission.",
         row("dsbench_num_requests_waiting", b.waiting));
  metric("dsbench_kv_blocks_used", "gauge", "KV-cache blocks in use.", row("dsbench_kv_blocks_used", b.kv_blocks_used));
  metric("dsbench_kv_blocks_total", "gauge", "KV-cache blocks in the pool.",
         row("dsbench_kv_blocks_total", b.kv_blocks_total));
  char usage[64];
  std::snprintf(usage, sizeof usage, "%.6f",
                b.kv_blocks_total > 0 ? static_cast<double>(b.kv_blocks_used) / b.kv_blocks_total : 0.0);
  metric("dsbench_kv_cache_usage_ratio", "gauge", "KV-cache usage, 0..1.",
         std::string("dsbench_kv_cache_usage_ratio ") + usage + "\n");
  metric("dsbench_engine_steps_total", "counter", "Scheduler steps run by the backend.",
         row("dsbench_engine_steps_total", b.steps));
  return s;
}

Server::Server(ServerOptions opts, std::shared_ptr<TokenStreamBackend> backend)
    : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
  impl_->backend = std::move(backend);
}

Server::~Server() { stop(); }

uint16_t Server::start() {
  Impl& s = *impl_;
  DSBENCH_CHECK(!s.started) << "server already started";
  error_code ec;
  auto addr = net::ip::make_address(s.opts.host, ec);
  if (ec) throw UsageError("--host: '" + s.opts.host + "' is not an IP address");
  tcp::endpoint ep(addr, s.opts.port);
  s.acceptor.open(ep.protocol(), ec);
  if (!ec) s.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(ep, ec);
  if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw Error("cannot listen on " + s.opts.host + ":" + std::to_string(s.opts.port) + ": " + ec.message());
  s.port = s.acceptor.local_endpoint().port();
  s.started = true;
  net::co_spawn(s.ioc, s.listen(), net::detached);
  s.thread = std::thread([&s] { s.ioc.run(); });
  return s.port;
}

uint16_t Server::port() const { return impl_->port; }

void Server::stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  net::post(s.ioc, [&s] {
    error_code ec;
    s.acceptor.close(ec);
    for (auto& [raw, weak] : s.conns)
      if (auto c = weak.lock()) {
        c->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
        c->stream.socket().close(ec);
      }
    s.ioc.stop();
  });
  if (s.thread.joinable()) s.thread.join();
  // After cancel returns no sink runs again, so the posted events cannot outlive the io_context.
  std::lock_guard lk(s.active_mu);
  for (auto& [id, unused] : s.active) s.backend->cancel(id);
  s.active.clear();
}

std::string Server::metrics_text() const { return impl_->metrics_text(); }
int64_t Server::inflight() const { return impl_->inflight.load(); }

}  // namespace dsbench::serving
