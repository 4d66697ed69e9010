// The load client against our server on loopback (null backend): every request completes, usage
// equals what was streamed, TTFT <= E2EL, and faults (bad requests, disconnects, a stopped
// server, malformed SSE, nobody listening) end as 4xx or failed requests, never a hang.
#include <gtest/gtest.h>

#include "dsbench/error.h"
#include "serving/client.h"
#include "serving/metrics.h"
#include "serving/null_backend.h"
#include "serving/server.h"
#include "serving_test_util.h"

namespace dsbench::serving {
namespace {

using testing::eventually;
using testing::raw_http;

struct NullServer {
  explicit NullServer(NullBackendOptions bo = {}, int64_t max_inflight = 0)
      : backend(std::make_shared<NullBackend>(bo)) {
    ServerOptions so;
    so.port = 0;
    so.model_name = "tiny";
    so.max_inflight = max_inflight;
    server = std::make_unique<Server>(so, backend);
    port = server->start();
  }
  ~NullServer() {
    server->stop();
    backend->shutdown();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }
  std::shared_ptr<NullBackend> backend;
  std::unique_ptr<Server> server;
  uint16_t port = 0;
};

std::vector<LoadRequest> workload(int64_t n, int64_t in, int64_t out, double ratio = 0) {
  RandomDatasetOptions d;
  d.num_prompts = n;
  d.input_len = in;
  d.output_len = out;
  d.range_ratio = ratio;
  d.format = PromptFormat::kIds;
  d.id_min = 0;
  d.id_max = 256;
  return random_dataset(d);
}

ClientOptions client_for(const std::string& url, int64_t conc = 8) {
  ClientOptions c;
  c.url = url;
  c.model = "tiny";
  c.max_concurrency = conc;
  c.request_timeout_s = 20;
  c.max_duration_s = 60;
  return c;
}

void expect_all_complete(const LoadResult& res, const std::vector<LoadRequest>& reqs) {
  ASSERT_EQ(res.requests.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    const auto& r = res.requests[i];
    ASSERT_TRUE(r.ok) << "request " << i << ": " << r.error;
    EXPECT_EQ(r.tokens_source, "usage");
    EXPECT_EQ(r.output_tokens, reqs[i].output_len);       // ignore_eos: exactly max_tokens
    EXPECT_EQ(r.output_tokens, r.chunks);                 // usage == what was streamed
    EXPECT_EQ(r.prompt_tokens, reqs[i].prompt_len);
    EXPECT_EQ(static_cast<int64_t>(r.itl_s.size()), r.chunks - 1);
    EXPECT_GE(r.ttft_s, 0);
    EXPECT_LE(r.ttft_s, r.e2el_s);
    EXPECT_GE(r.eligible_s, r.intended_s);
    EXPECT_GE(r.sent_s, r.eligible_s);
  }
}

TEST(Loopback, NullEngineEveryRequestCompletes) {
  NullServer s;
  auto reqs = workload(64, 16, 32, 0.5);
  auto res = run_load(client_for(s.url(), 16), reqs);
  expect_all_complete(res, reqs);
  EXPECT_GT(res.sse_events, 64 * 16);
  auto sum = summarize(res, {});
  EXPECT_EQ(sum["completed"], 64);
  EXPECT_EQ(sum["failed"], 0);
  EXPECT_EQ(s.backend->stats().kv_blocks_used, 0);
  EXPECT_TRUE(eventually([&] { return s.server->inflight() == 0; }));
}

TEST(Loopback, ChatEndpointAndPoissonArrivals) {
  NullServer s;
  auto reqs = workload(20, 8, 5);
  for (auto& r : reqs) {
    r.prompt = "hello there";
    r.prompt_ids.clear();
    r.prompt_len = 0;
  }
  auto c = client_for(s.url(), 0);
  c.chat = true;
  c.request_rate = 200;
  auto res = run_load(c, reqs);
  for (const auto& r : res.requests) {
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.output_tokens, 5);
    EXPECT_EQ(r.chunks, 5);  // the role chunk carries no content
  }
  // Arrivals are spread: the last is planned well after the first.
  EXPECT_GT(res.requests.back().intended_s, 0.0);
}

TEST(Loopback, WithoutUsageTokensComeFromChunks) {
  NullServer s;
  auto reqs = workload(4, 8, 7);
  auto c = client_for(s.url());
  c.include_usage = false;
  auto res = run_load(c, reqs);
  for (const auto& r : res.requests) {
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.tokens_source, "chunks");
    EXPECT_EQ(r.output_tokens, 7);
  }
  EXPECT_EQ(summarize(res, {})["tokens_source"], "chunks");
}

TEST(Loopback, MalformedRequestsGet400WithJsonError) {
  NullServer s;
  const std::vector<std::string> bodies = {"{broken", R"({"prompt":"x","max_tokens":0})",
                                           R"({"prompt":"x","surprise":true})",
                                           R"({"prompt":"x","max_tokens":999999999})"};
  for (const auto& b : bodies) {
    auto r = raw_http(s.port, testing::post("/v1/completions", b));
    EXPECT_EQ(r.status, 400) << b;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.body;
    EXPECT_TRUE(j["error"]["message"].is_string());
  }
  EXPECT_EQ(raw_http(s.port, "GARBAGE\r\n\r\n").status, 400);
  EXPECT_EQ(raw_http(s.port, testing::get("/nope")).status, 404);
  EXPECT_EQ(raw_http(s.port, testing::get("/v1/completions")).status, 405);
  EXPECT_EQ(raw_http(s.port, testing::post("/v1/completions", R"({"prompt":"x","model":"gpt"})")).status, 404);
  // The server still serves after all that.
  EXPECT_EQ(raw_http(s.port, testing::get("/health")).status, 200);
}

TEST(Loopback, ModelsHealthMetricsAndNonStreaming) {
  NullServer s;
  auto models = raw_http(s.port, testing::get("/v1/models"));
  ASSERT_EQ(models.status, 200);
  EXPECT_EQ(nlohmann::json::parse(models.body)["data"][0]["id"], "tiny");
  auto full = raw_http(s.port, testing::post("/v1/completions", R"({"prompt":"abc","max_tokens":4})"));
  ASSERT_EQ(full.status, 200) << full.body;
  auto j = nlohmann::json::parse(full.body);
  EXPECT_EQ(j["choices"][0]["text"], "abcd");  // the null backend streams a..z
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(j["usage"]["completion_tokens"], 4);
  auto chat = raw_http(s.port, testing::post("/v1/chat/completions",
                                             R"({"messages":[{"role":"user","content":"q"}],"max_tokens":2})"));
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_EQ(nlohmann::json::parse(chat.body)["choices"][0]["message"]["content"], "ab");
  auto m = raw_http(s.port, testing::get("/metrics"));
  ASSERT_EQ(m.status, 200);
  for (const char* name : {"dsbench_requests_total{outcome=\"success\"} 2", "dsbench_generation_tokens_total 6",
                           "dsbench_num_requests_waiting", "dsbench_kv_cache_usage_ratio", "dsbench_kv_blocks_used 0"})
    EXPECT_NE(m.body.find(name), std::string::npos) << name << "\n" << m.body;
}

TEST(Loopback, OverCapacityGets503WhenConfigured) {
  NullBackendOptions bo;
  bo.step_seconds = 0.01;
  NullServer s(bo, /*max_inflight=*/2);
  auto reqs = workload(6, 4, 50);  // ~0.5 s each
  auto res = run_load(client_for(s.url(), 0), reqs);
  int ok = 0, rejected = 0;
  for (const auto& r : res.requests) {
    ok += r.ok;
    if (r.http_status == 503) {
      ++rejected;
      EXPECT_NE(r.error.find("over capacity"), std::string::npos) << r.error;
    }
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(rejected, 4);
}

TEST(Loopback, ClientDisconnectFreesKvBlocks) {
  NullBackendOptions bo;
  bo.step_seconds = 0.002;
  NullServer s(bo);
  namespace net = boost::asio;
  net::io_context ioc;
  net::ip::tcp::socket sock(ioc);
  sock.connect({net::ip::make_address("127.0.0.1"), s.port});
  net::write(sock, net::buffer(testing::post(
                       "/v1/completions", R"({"prompt":"hello","max_tokens":100000,"stream":true,"ignore_eos":true})")));
  char buf[4096];
  size_t got = 0;
  while (got < 600) got += sock.read_some(net::buffer(buf));  // several chunks: mid-stream
  ASSERT_TRUE(eventually([&] { return s.backend->stats().kv_blocks_used > 0; }));
  sock.close();
  ASSERT_TRUE(eventually([&] { return s.backend->stats().kv_blocks_used == 0; }))
      << "blocks still held: " << s.backend->stats().kv_blocks_used;
  EXPECT_TRUE(eventually([&] { return s.server->inflight() == 0; }));
  EXPECT_NE(s.server->metrics_text().find("dsbench_requests_total{outcome=\"cancelled\"} 1"), std::string::npos);
}

TEST(Loopback, StoppedServerMidRunGivesFailedRequests) {
  NullBackendOptions bo;
  bo.step_seconds = 0.005;
  auto s = std::make_unique<NullServer>(bo);
  auto reqs = workload(16, 4, 400);  // ~2 s each
  LoadResult res;
  std::thread client([&] { res = run_load(client_for(s->url(), 16), reqs); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  s.reset();  // closes every connection mid-stream
  client.join();
  ASSERT_EQ(res.requests.size(), 16u);
  for (const auto& r : res.requests) {
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.error.empty());
  }
}

TEST(Loopback, UnreachableServerFailsEveryRequestQuickly) {
  uint16_t port;
  {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }  // closed: nobody listens there now
  auto res = run_load(client_for("http://127.0.0.1:" + std::to_string(port) + "/v1"), workload(5, 4, 4));
  for (const auto& r : res.requests) {
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "connect: connection refused");
  }
  EXPECT_THROW(parse_url("https://x"), UsageError);
  EXPECT_THROW(parse_url("http://:80"), UsageError);
  EXPECT_THROW(parse_url("http://h:99999"), UsageError);
  EXPECT_EQ(parse_url("http://[::1]:8000/v1/").base_path, "/v1");
}

std::string sse_reply(const std::string& events) {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + events;
}

TEST(Loopback, MalformedSseFromAFakeServerIsAFailure) {
  const std::string good = "data: {\"choices\":[{\"text\":\"a\",\"finish_reason\":null}]}\n\n";
  struct Case {
    std::string reply, expect;
  };
  const std::vector<Case> cases = {
      {sse_reply(good + "this is not sse\n\n"), "malformed SSE"},
      {sse_reply(good + "data: {not json\n\n"), "malformed SSE"},
      {sse_reply(good + "data: {\"error\":{\"message\":\"boom\"}}\n\n"), "boom"},
      {sse_reply(good), "without a finish_reason"},  // cut short
      {"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno", "HTTP 500"},
      {"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", "did not stream"},
      {"not http at all\r\n\r\n", "read header"},
  };
  for (const auto& c : cases) {
    testing::FakeServer fake(c.reply);
    auto res = run_load(client_for("http://127.0.0.1:" + std::to_string(fake.port()) + "/v1", 2), workload(3, 4, 4));
    for (const auto& r : res.requests) {
      EXPECT_FALSE(r.ok);
      EXPECT_NE(r.error.find(c.expect), std::string::npos) << "got '" << r.error << "' for " << c.reply;
    }
  }
  // A well-formed stream ending in [DONE] (no usage) from the same fake is a success.
  testing::FakeServer fine(sse_reply(good + good + "data: [DONE]\n\n"));
  auto res = run_load(client_for("http://127.0.0.1:" + std::to_string(fine.port()) + "/v1"), workload(2, 4, 4));
  for (const auto& r : res.requests) {
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.tokens_source, "chunks");
    EXPECT_EQ(r.output_tokens, 2);
  }
}

TEST(Loopback, ServerClosingWithoutAnswerIsAFailure) {
  testing::FakeServer silent("");  // reads the request, answers nothing, closes
  auto c = client_for("http://127.0.0.1:" + std::to_string(silent.port()) + "/v1");
  c.request_timeout_s = 0.5;
  auto res = run_load(c, workload(2, 4, 4));
  for (const auto& r : res.requests) EXPECT_FALSE(r.ok);
}

TEST(Loopback, RunTimeLimitBoundsTheRun) {
  NullBackendOptions bo;
  bo.step_seconds = 0.01;
  NullServer s(bo);
  auto c = client_for(s.url(), 1);
  c.max_duration_s = 0.3;
  auto t0 = std::chrono::steady_clock::now();
  auto res = run_load(c, workload(10, 4, 1000));  // 10 s each if unbounded
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(took, 30.0);  // bounded, not a speed claim: unbounded would take 100 s
  int not_sent = 0;
  for (const auto& r : res.requests) {
    EXPECT_FALSE(r.ok);
    not_sent += r.error.rfind("not sent", 0) == 0;
  }
  EXPECT_EQ(not_sent, 9);
}

}  // namespace
}  // namespace dsbench::serving
