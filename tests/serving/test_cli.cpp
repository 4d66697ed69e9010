// The serve and load subcommands as a user runs them: a `dsbench serve --engine null` process,
// `dsbench load` against it writing a valid result, bad options (exit 2), and the server
// process killed with SIGKILL mid-run (failed requests, no crash, no hang).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "dsbench/results.h"
#include "serving/client.h"
#include "serving_test_util.h"

extern char** environ;

namespace dsbench::serving {
namespace {
namespace fs = std::filesystem;

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("dsbench-serving-cli-" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

int run_cmd(const std::string& args) {
  int rc = std::system((std::string(DSBENCH_EXE) + " " + args + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// A `dsbench serve` child process on a free port.
class ServeProcess {
 public:
  explicit ServeProcess(const std::vector<std::string>& extra) {
    log_ = temp_dir() / "serve.log";
    std::vector<std::string> args = {DSBENCH_EXE, "serve", "--port", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    std::regex re("listening on http://127\\.0\\.0\\.1:([0-9]+)/v1");
    testing::eventually([&] {
      std::ifstream in(log_);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::smatch m;
      if (std::regex_search(text, m, re)) port_ = static_cast<uint16_t>(std::stoi(m[1]));
      return port_ != 0;
    }, 30);
  }
  ~ServeProcess() { kill(SIGKILL); }
  void kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  fs::path log_;
};

TEST(ServingCli, BadOptionsExitWith2) {
  EXPECT_EQ(run_cmd("load --help"), 0);
  EXPECT_EQ(run_cmd("serve --help"), 0);
  EXPECT_EQ(run_cmd("load --model m"), 2);                                   // no --url
  EXPECT_EQ(run_cmd("load --url https://x/v1 --model m"), 2);
  EXPECT_EQ(run_cmd("load --url http://127.0.0.1:1/v1 --model m --slo ttft"), 2);
  EXPECT_EQ(run_cmd("load --url http://127.0.0.1:1/v1 --model m --request-rate 1,2 --max-concurrency 1,2"), 2);
  EXPECT_EQ(run_cmd("load --url http://127.0.0.1:1/v1 --model m --bogus"), 2);
  EXPECT_EQ(run_cmd("serve --engine bogus"), 2);
  EXPECT_EQ(run_cmd("serve --model no-such-model --engine null"), 2);
}

TEST(ServingCli, LoadAgainstServeWritesAValidResult) {
  ServeProcess serve({"--engine", "null", "--model", "dsv3-tiny"});
  ASSERT_NE(serve.port(), 0) << "serve did not start";
  fs::path out = temp_dir() / "load.json";
  int rc = run_cmd("load --url " + serve.url() + " --model dsv3-tiny --num-prompts 12 --input-len 8 "
                   "--output-len 6 --prompt-format ids --id-range 0:256 --max-concurrency 1,4 "
                   "--warmup 2 --slo ttft:60000 --quiet --out " + out.string());
  ASSERT_EQ(rc, 0);
  auto doc = load_result_file(out);  // validates the schema
  ASSERT_EQ(doc["suites"].size(), 1u);
  const auto& suite = doc["suites"][0];
  EXPECT_EQ(suite["name"], "serving");
  ASSERT_EQ(suite["benchmarks"].size(), 10u);  // 5 records x 2 sweep points
  for (const auto& b : suite["benchmarks"]) {
    if (b["name"] != "output_throughput") continue;
    EXPECT_EQ(b["counters"]["completed"], 12);
    EXPECT_EQ(b["counters"]["failed"], 0);
    EXPECT_EQ(b["counters"]["good_requests"], 12);
    EXPECT_EQ(b["data"]["requests"].size(), 12u);
    EXPECT_EQ(b["data"]["summary"]["tokens_source"], "usage");
    EXPECT_EQ(b["data"]["summary"]["total_output_tokens"], 72);
  }
  // Nobody listening: every request fails, exit 3, and the failures are recorded.
  serve.kill(SIGTERM);
  rc = run_cmd("load --url " + serve.url() + " --model dsv3-tiny --num-prompts 3 --quiet --out " + out.string());
  EXPECT_EQ(rc, 3);
  auto failed = load_result_file(out);
  for (const auto& b : failed["suites"][0]["benchmarks"]) {
    if (b["name"] == "output_throughput") {
      EXPECT_EQ(b["counters"]["failed"], 3);
    }
  }
}

TEST(ServingCli, ServerKilledMidRunGivesFailedRequests) {
  ServeProcess serve({"--engine", "null", "--null-step-ms", "5"});
  ASSERT_NE(serve.port(), 0) << "serve did not start";
  std::vector<LoadRequest> reqs(8);
  for (auto& r : reqs) {
    r.prompt_ids = {1, 2, 3};
    r.prompt_len = 3;
    r.output_len = 1000;  // ~5 s each
  }
  ClientOptions c;
  c.url = serve.url();
  c.model = "dsv3-tiny";
  c.request_timeout_s = 30;
  c.max_duration_s = 60;
  LoadResult res;
  std::thread client([&] { res = run_load(c, reqs); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  serve.kill(SIGKILL);
  client.join();
  ASSERT_EQ(res.requests.size(), 8u);
  for (const auto& r : res.requests) {
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.error.empty());
  }
}

}  // namespace
}  // namespace dsbench::serving
