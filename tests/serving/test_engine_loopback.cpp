// The load client against our server with the real engine (dsv3-tiny, synthetic weights):
// every request completes with usage equal to what was streamed, TTFT <= E2EL, and a client
// that disconnects mid-stream gets its KV blocks returned to the pool.
#include <gtest/gtest.h>

#include "dsbench/config.h"
#include "serving/client.h"
#include "serving/engine_backend.h"
#include "serving/server.h"
#include "serving_test_util.h"

namespace dsbench::serving {
namespace {

struct EngineServer {
  EngineServer() {
    EngineBackendOptions eo;
    eo.kv_budget_bytes = 32 << 20;
    eo.max_running = 8;
    backend = std::make_shared<EngineBackend>(load_model("dsv3-tiny"), eo);
    ServerOptions so;
    so.port = 0;
    so.model_name = "dsv3-tiny";
    server = std::make_unique<Server>(so, backend);
    port = server->start();
  }
  ~EngineServer() {
    server->stop();
    backend->shutdown();
  }
  std::shared_ptr<EngineBackend> backend;
  std::unique_ptr<Server> server;
  uint16_t port = 0;
};

// One engine for the suite: building the synthetic model is the slow part.
class EngineLoopback : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new EngineServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static EngineServer* server_;
};
EngineServer* EngineLoopback::server_ = nullptr;

TEST_F(EngineLoopback, EveryRequestCompletesWithExactUsage) {
  EngineServer& s = *server_;
  std::vector<LoadRequest> reqs(8);
  for (size_t i = 0; i < reqs.size(); ++i) {
    reqs[i].prompt_len = 4 + static_cast<int64_t>(i);
    for (int64_t k = 0; k < reqs[i].prompt_len; ++k) reqs[i].prompt_ids.push_back(static_cast<int32_t>(7 * k + i));
    reqs[i].output_len = 3 + static_cast<int64_t>(i % 3);
  }
  ClientOptions c;
  c.url = "http://127.0.0.1:" + std::to_string(s.port) + "/v1";
  c.model = "dsv3-tiny";
  c.max_concurrency = 4;
  c.request_timeout_s = 60;
  c.max_duration_s = 120;
  auto res = run_load(c, reqs);
  for (size_t i = 0; i < reqs.size(); ++i) {
    const auto& r = res.requests[i];
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.tokens_source, "usage");
    EXPECT_EQ(r.output_tokens, reqs[i].output_len);  // ignore_eos
    EXPECT_EQ(r.chunks, r.output_tokens);            // one chunk per token
    EXPECT_EQ(r.prompt_tokens, reqs[i].prompt_len);
    EXPECT_LE(r.ttft_s, r.e2el_s);
  }
  EXPECT_TRUE(testing::eventually([&] { return s.backend->stats().kv_blocks_used == 0; }));
}

TEST_F(EngineLoopback, DisconnectMidStreamReturnsKvBlocks) {
  EngineServer& s = *server_;
  const int64_t total = s.backend->stats().kv_blocks_total;
  ASSERT_GT(total, 0);
  namespace net = boost::asio;
  net::io_context ioc;
  net::ip::tcp::socket sock(ioc);
  sock.connect({net::ip::make_address("127.0.0.1"), s.port});
  net::write(sock, net::buffer(testing::post(
                       "/v1/completions",
                       R"({"prompt":"a prompt of some length","max_tokens":2000,"stream":true,"ignore_eos":true})")));
  std::string got;
  char buf[4096];
  // Two token chunks in: the request is running and holds blocks.
  auto chunks = [&] {
    size_t n = 0;
    for (size_t at = got.find("data: "); at != std::string::npos; at = got.find("data: ", at + 1)) ++n;
    return n;
  };
  for (int reads = 0; chunks() < 2 && reads < 1000; ++reads) got.append(buf, sock.read_some(net::buffer(buf)));
  ASSERT_GE(chunks(), 2u);
  ASSERT_TRUE(testing::eventually([&] { return s.backend->stats().kv_blocks_used > 0; }));
  sock.close();
  ASSERT_TRUE(testing::eventually([&] { return s.backend->stats().kv_blocks_used == 0; }))
      << "blocks still held: " << s.backend->stats().kv_blocks_used;
  EXPECT_TRUE(testing::eventually([&] { return s.server->inflight() == 0; }));
  // The freed pool serves the next request.
  auto r = testing::raw_http(s.port, testing::post("/v1/completions", R"({"prompt":"x","max_tokens":2})"), 60);
  EXPECT_EQ(r.status, 200) << r.body;
}

}  // namespace
}  // namespace dsbench::serving
