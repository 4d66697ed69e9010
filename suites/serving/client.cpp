// The load client's event loop (see client.h): a driver coroutine releases requests on their
// schedule under the concurrency limit; each request is a coroutine that streams its response.
#include "serving/client.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "dsbench/error.h"
#include "serving/sse.h"

namespace dsbench::serving {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

Url parse_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind("https://", 0) == 0)
    throw UsageError("--url: https is not supported; use a plain http:// address");
  if (url.rfind(scheme, 0) != 0) throw UsageError("--url: expected http://HOST[:PORT][/PATH], got '" + url + "'");
  std::string rest = url.substr(scheme.size());
  Url u;
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  u.base_path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!u.base_path.empty() && u.base_path.back() == '/') u.base_path.pop_back();
  if (!hostport.empty() && hostport[0] == '[') {  // [::1]:8000
    size_t close = hostport.find(']');
    if (close == std::string::npos) throw UsageError("--url: unterminated '[' in '" + url + "'");
    u.host = hostport.substr(1, close - 1);
    hostport = hostport.substr(close + 1);
    if (!hostport.empty() && hostport[0] != ':') throw UsageError("--url: bad port in '" + url + "'");
    hostport = hostport.empty() ? "" : hostport.substr(1);
  } else {
    size_t colon = hostport.rfind(':');
    u.host = hostport.substr(0, colon);
    hostport = colon == std::string::npos ? "" : hostport.substr(colon + 1);
  }
  if (u.host.empty()) throw UsageError("--url: no host in '" + url + "'");
  if (!hostport.empty()) {
    char* end = nullptr;
    long p = std::strtol(hostport.c_str(), &end, 10);
    if (*end || p < 1 || p > 65535) throw UsageError("--url: bad port '" + hostport + "' in '" + url + "'");
    u.port = static_cast<uint16_t>(p);
  }
  return u;
}

namespace {

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string describe(const error_code& ec, const char* stage, double timeout_s) {
  if (ec == beast::error::timeout) return std::string(stage) + ": timeout (request or run time limit)";
  if (ec == net::error::connection_refused) return std::string(stage) + ": connection refused";
  if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == net::error::eof)
    return std::string(stage) + ": connection closed before the response was complete";
  return std::string(stage) + ": " + ec.message();
}

struct StreamState {
  bool done = false;      // [DONE] seen
  bool finished = false;  // a finish_reason seen
  Clock::time_point now, send, last;
  std::string error;
};

class Run {
 public:
  Run(const ClientOptions& o, const std::vector<LoadRequest>& reqs) : opts_(o), reqs_(reqs) {}
  LoadResult go();

 private:
  net::awaitable<void> drive();
  net::awaitable<void> one(size_t i);
  net::awaitable<void> exchange(size_t i, Clock::time_point deadline);
  bool on_event(RequestResult& r, StreamState& s, std::string_view data);
  std::string body_for(const LoadRequest& q) const;

  const ClientOptions& opts_;
  const std::vector<LoadRequest>& reqs_;
  net::io_context ioc_{1};
  net::steady_timer slot_{ioc_};
  tcp::endpoint endpoint_;
  Url url_;
  std::string path_;
  std::vector<double> arrivals_;
  std::vector<RequestResult> results_;
  Clock::time_point t0_, run_deadline_;
  Clock::time_point last_end_, slot_freed_;
  int64_t inflight_ = 0;
  int64_t events_ = 0;
};

std::string Run::body_for(const LoadRequest& q) const {
  nlohmann::json b = {{"model", opts_.model}, {"max_tokens", q.output_len}, {"stream", true}};
  if (opts_.chat) {
    b["messages"] = {{{"role", "user"}, {"content", q.prompt}}};
  } else if (!q.prompt_ids.empty()) {
    b["prompt"] = q.prompt_ids;
  } else {
    b["prompt"] = q.prompt;
  }
  if (opts_.include_usage) b["stream_options"] = {{"include_usage", true}};
  if (opts_.ignore_eos) b["ignore_eos"] = true;
  if (opts_.temperature) b["temperature"] = *opts_.temperature;
  if (opts_.top_p) b["top_p"] = *opts_.top_p;
  return b.dump();
}

bool Run::on_event(RequestResult& r, StreamState& s, std::string_view data) {
  ++r.events;
  if (data == "[DONE]") {
    s.done = true;
    return true;
  }
  auto j = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    s.error = "malformed SSE: data is not a JSON object: '" + std::string(data.substr(0, 80)) + "'";
    return false;
  }
  if (auto e = j.find("error"); e != j.end() && !e->is_null()) {
    std::string msg = e->is_object() && e->contains("message") && (*e)["message"].is_string()
                          ? (*e)["message"].get<std::string>() : e->dump();
    s.error = "server error in stream: " + msg;
    return false;
  }
  if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
    if (auto c = u->find("completion_tokens"); c != u->end() && c->is_number_integer()) {
      r.output_tokens = c->get<int64_t>();
      r.tokens_source = "usage";
    }
    if (auto p = u->find("prompt_tokens"); p != u->end() && p->is_number_integer())
      r.prompt_tokens = p->get<int64_t>();
  }
  auto ch = j.find("choices");
  if (ch == j.end() || !ch->is_array() || ch->empty()) return true;
  const auto& c0 = (*ch)[0];
  if (!c0.is_object()) {
    s.error = "malformed SSE: choices[0] is not an object";
    return false;
  }
  size_t text_len = 0;
  auto text_of = [&](const nlohmann::json& v) {
    if (v.is_string()) text_len += v.get_ref<const std::string&>().size();
  };
  if (auto t = c0.find("text"); t != c0.end()) text_of(*t);
  if (auto d = c0.find("delta"); d != c0.end() && d->is_object()) {
    if (auto t = d->find("content"); t != d->end()) text_of(*t);
    if (auto t = d->find("reasoning_content"); t != d->end()) text_of(*t);
  }
  if (text_len > 0) {
    if (r.chunks == 0) {
      r.ttft_s = secs(s.now - s.send);
    } else {
      r.itl_s.push_back(secs(s.now - s.last));
    }
    s.last = s.now;
    ++r.chunks;
  }
  if (auto f = c0.find("finish_reason"); f != c0.end() && !f->is_null()) s.finished = true;
  return true;
}

net::awaitable<void> Run::exchange(size_t i, Clock::time_point deadline) {
  RequestResult& r = results_[i];
  const double timeout = opts_.request_timeout_s;
  beast::tcp_stream stream(ioc_);
  stream.expires_at(deadline);
  error_code ec;
  co_await stream.async_connect(endpoint_, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    r.error = describe(ec, "connect", timeout);
    co_return;
  }
  stream.socket().set_option(tcp::no_delay(true), ec);
  http::request<http::string_body> req{http::verb::post, path_, 11};
  req.set(http::field::host, url_.host + ":" + std::to_string(url_.port));
  req.set(http::field::user_agent, "dsbench-load");
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, "text/event-stream");
  if (!opts_.api_key.empty()) req.set(http::field::authorization, "Bearer " + opts_.api_key);
  req.body() = body_for(reqs_[i]);
  req.prepare_payload();
  co_await http::async_write(stream, req, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    r.error = describe(ec, "send", timeout);
    co_return;
  }

  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> p;
  p.body_limit(std::numeric_limits<std::uint64_t>::max());
  co_await http::async_read_header(stream, buf, p, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    r.error = describe(ec, "read header", timeout);
    co_return;
  }
  r.http_status = p.get().result_int();
  char tmp[16384];
  if (r.http_status != 200) {
    std::string body;
    while (!p.is_done() && body.size() < 4096) {
      p.get().body().data = tmp;
      p.get().body().size = sizeof tmp;
      co_await http::async_read_some(stream, buf, p, net::redirect_error(net::use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      body.append(tmp, sizeof tmp - p.get().body().size);
      if (ec) break;
    }
    auto j = nlohmann::json::parse(body, nullptr, false);
    std::string msg = body.substr(0, 200);
    if (!j.is_discarded() && j.is_object() && j.contains("error")) {
      const auto& e = j["error"];
      msg = e.is_object() && e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>()
            : e.is_string() ? e.get<std::string>() : e.dump();
    }
    r.error = "HTTP " + std::to_string(r.http_status) + ": " + msg;
    co_return;
  }
  if (auto ct = p.get()[http::field::content_type]; ct.find("application/json") != beast::string_view::npos) {
    r.error = "server did not stream (Content-Type: " + std::string(ct) + ")";
    co_return;
  }

  StreamState s;
  s.send = t0_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(r.sent_s));
  SseParser sse([&](std::string_view d) { return on_event(r, s, d); });
  while (!p.is_done()) {
    p.get().body().data = tmp;
    p.get().body().size = sizeof tmp;
    co_await http::async_read_some(stream, buf, p, net::redirect_error(net::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    s.now = Clock::now();  // one timestamp per read: parsing time does not skew the gaps
    const size_t n = sizeof tmp - p.get().body().size;
    if (n && !sse.feed(tmp, n)) {
      r.error = s.error.empty() ? sse.error() : s.error;
      co_return;
    }
    if (ec) {
      r.error = describe(ec, "read stream", timeout);
      co_return;
    }
  }
  if (!sse.finish()) {
    r.error = s.error.empty() ? sse.error() : s.error;
    co_return;
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  if (!s.done && !s.finished) {
    r.error = "stream ended without a finish_reason or [DONE]";
    co_return;
  }
  if (r.chunks == 0) {
    r.error = "no content chunk received";
    co_return;
  }
  r.e2el_s = secs(s.last - s.send);
  if (r.tokens_source.empty()) {
    r.output_tokens = r.chunks;
    r.tokens_source = "chunks";
  }
  r.ok = true;
}

net::awaitable<void> Run::one(size_t i) {
  RequestResult& r = results_[i];
  const auto send = Clock::now();
  r.sent_s = secs(send - t0_);
  const auto deadline =
      std::min(send + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opts_.request_timeout_s)),
               run_deadline_);
  try {
    co_await exchange(i, deadline);
  } catch (const std::exception& e) {
    r.ok = false;
    r.error = std::string("client error: ") + e.what();
  }
  if (!r.ok && r.error.empty()) r.error = "unknown failure";
  events_ += r.events;
  last_end_ = std::max(last_end_, Clock::now());
  // The moment the limit stops binding: requests waiting for a slot could go from here.
  if (inflight_ == opts_.max_concurrency) slot_freed_ = Clock::now();
  --inflight_;
  slot_.cancel();
}

net::awaitable<void> Run::drive() {
  net::steady_timer wait(ioc_);
  error_code ec;
  for (size_t i = 0; i < reqs_.size(); ++i) {
    const auto when = t0_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(arrivals_[i]));
    if (when < run_deadline_ && Clock::now() < when) {
      wait.expires_at(when);
      co_await wait.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    while (opts_.max_concurrency > 0 && inflight_ >= opts_.max_concurrency && Clock::now() < run_deadline_) {
      slot_.expires_at(run_deadline_);
      co_await slot_.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    // Could go at its arrival, or when a slot last freed if the limit was binding then.
    results_[i].eligible_s = secs(std::max(when, slot_freed_) - t0_);
    if (when >= run_deadline_ || Clock::now() >= run_deadline_) {
      for (size_t k = i; k < reqs_.size(); ++k)
        results_[k].error = "not sent: run time limit (--max-duration) reached";
      break;
    }
    ++inflight_;
    net::co_spawn(ioc_, one(i), net::detached);
  }
}

LoadResult Run::go() {
  url_ = parse_url(opts_.url);
  path_ = url_.base_path + (opts_.chat ? "/chat/completions" : "/completions");
  if (!(opts_.request_timeout_s > 0)) throw UsageError("--timeout: must be positive");
  if (!(opts_.max_duration_s > 0)) throw UsageError("--max-duration: must be positive");
  if (opts_.max_concurrency < 0) throw UsageError("--max-concurrency: must be >= 0");
  arrivals_ = arrival_times(static_cast<int64_t>(reqs_.size()), opts_.request_rate, opts_.burstiness, opts_.seed);
  results_.resize(reqs_.size());
  for (size_t i = 0; i < reqs_.size(); ++i) {
    results_[i].index = static_cast<int64_t>(i);
    results_[i].intended_s = arrivals_[i];
    results_[i].prompt_len = reqs_[i].prompt_len;
  }
  LoadResult out;
  error_code ec;
  tcp::resolver resolver(ioc_);
  auto found = resolver.resolve(url_.host, std::to_string(url_.port), ec);
  if (ec || found.empty()) {
    for (auto& r : results_) r.error = "resolve " + url_.host + ": " + (ec ? ec.message() : "no address");
    out.requests = std::move(results_);
    return out;
  }
  endpoint_ = found.begin()->endpoint();
  t0_ = Clock::now();
  last_end_ = t0_;
  slot_freed_ = t0_;
  run_deadline_ = t0_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opts_.max_duration_s));
  net::co_spawn(ioc_, drive(), net::detached);
  ioc_.run();
  out.duration_s = secs(last_end_ - t0_);
  out.sse_events = events_;
  out.events_per_s = out.duration_s > 0 ? static_cast<double>(events_) / out.duration_s : 0;
  out.requests = std::move(results_);
  return out;
}

}  // namespace

LoadResult run_load(const ClientOptions& opts, const std::vector<LoadRequest>& requests) {
  Run run(opts, requests);
  return run.go();
}

}  // namespace dsbench::serving
