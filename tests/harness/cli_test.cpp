// The dsbench executable: exit codes and messages for good and bad command lines.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "dsbench/results.h"

namespace {
namespace fs = std::filesystem;

struct Result {
  int code;
  std::string output;  // stdout and stderr together
};

Result run_cmd(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

Result run(const std::string& args) {
  return run_cmd(std::string(DSBENCH_EXE) + " " + args + " 2>&1");
}

// The same with environment assignments (VAR=value ...) in a clean OpenBLAS environment.
Result run_in_env(const std::string& env, const std::string& args) {
  return run_cmd("env -u OPENBLAS_CORETYPE -u DSBENCH_SET_OPENBLAS_CORETYPE " + env + " " +
                 std::string(DSBENCH_EXE) + " " + args + " 2>&1");
}

// OpenBLAS picks its kernels by CPU model when it loads. dsbench records the pick under host.blas,
// starts itself again with OPENBLAS_CORETYPE set where OpenBLAS fell back to its generic SSE3 core
// ("Prescott") on a CPU with AVX2 or AVX-512, and keeps a user's own OPENBLAS_CORETYPE.
TEST(Cli, BlasCoreIsRecordedAndTheGenericFallbackReplaced) {
  const fs::path out = fs::temp_directory_path() / "dsbench_cli_blas.json";
  auto host_blas = [&](const std::string& env) {
    fs::remove(out);
    Result r = run_in_env(env, "run --suite kv_cache --filter no-such-benchmark --quiet --no-peaks"
                               " --out " + out.string());
    EXPECT_EQ(r.code, 0) << r.output;
    std::ifstream in(out);
    nlohmann::json doc = nlohmann::json::parse(in);
    fs::remove(out);
    return doc.at("host").at("blas");
  };
  const nlohmann::json user = host_blas("OPENBLAS_CORETYPE=Prescott");
  EXPECT_EQ(user.value("core", ""), "Prescott") << user.dump();
  EXPECT_EQ(user.value("set_by", ""), "environment") << user.dump();
  const nlohmann::json own = host_blas("");
  EXPECT_EQ(own.value("library", ""), "OpenBLAS") << own.dump();
  EXPECT_FALSE(own.value("core", "").empty()) << own.dump();
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    EXPECT_NE(own.value("core", ""), "Prescott") << own.dump();
  }
  if (own.contains("set_by")) {
    EXPECT_EQ(own.value("set_by", ""), "dsbench") << own.dump();
    EXPECT_EQ(own.value("OPENBLAS_CORETYPE", ""), own.value("core", "")) << own.dump();
  }
}

TEST(Cli, HelpForEveryCommand) {
  Result top = run("--help");
  EXPECT_EQ(top.code, 0) << top.output;
  for (const char* cmd : {"list", "run"}) {
    Result r = run(std::string(cmd) + " --help");
    EXPECT_EQ(r.code, 0) << cmd << ": " << r.output;
    EXPECT_NE(r.output.find("usage: dsbench " + std::string(cmd)), std::string::npos) << r.output;
  }
  // Every registered command answers --help with exit 0.
  size_t pos = top.output.find("commands:");
  ASSERT_NE(pos, std::string::npos);
  std::string rest = top.output.substr(pos);
  for (size_t line = rest.find("\n  "); line != std::string::npos; line = rest.find("\n  ", line + 1)) {
    std::string name = rest.substr(line + 3, rest.find(' ', line + 3) - line - 3);
    Result r = run(name + " --help");
    EXPECT_EQ(r.code, 0) << name << ": " << r.output;
  }
}

TEST(Cli, BadUsageExitsTwoAndNamesTheCulprit) {
  Result r = run("frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("frobnicate"), std::string::npos) << r.output;

  r = run("run --no-such-option");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--no-such-option"), std::string::npos) << r.output;

  r = run("run --suite no_such_suite --quiet --no-peaks --out /tmp/dsbench_cli_never.json");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("no_such_suite"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists("/tmp/dsbench_cli_never.json"));

  r = run("run --suite kv_cache --model no-such-model --quiet --no-peaks");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("no-such-model"), std::string::npos) << r.output;

  r = run("run --device tpu --quiet");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("--device"), std::string::npos) << r.output;

  r = run("run --repetitions abc");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("repetitions"), std::string::npos) << r.output;

  for (const char* bad : {"--max-noise 150%", "--max-noise often", "--max-noise 0", "--max-time 0",
                          "--max-time -3", "--throttle-threshold 100%", "--throttle-threshold slow",
                          "--throttle-recovery -1"}) {
    r = run(std::string("run --suite kv_cache --quiet --no-peaks --out /tmp/dsbench_cli_never.json ") + bad);
    EXPECT_EQ(r.code, 2) << bad << ": " << r.output;
    const std::string opt = std::string(bad).substr(0, std::string(bad).find(' '));
    EXPECT_NE(r.output.find(opt), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists("/tmp/dsbench_cli_never.json"));
  }

  r = run("");
  EXPECT_EQ(r.code, 2);
}

TEST(Cli, MalformedConfigNamesFileAndField) {
  fs::path p = fs::temp_directory_path() / "dsbench_cli_bad_config.json";
  std::ofstream(p) << R"({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                          "vocab_size": "many", "intermediate_size": 128})";
  Result r = run("run --suite kv_cache --quiet --no-peaks --model " + p.string());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(p.string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("vocab_size"), std::string::npos) << r.output;
  fs::remove(p);
}

TEST(Cli, ListShowsSuitesAndModels) {
  Result r = run("list");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("deepseek-v3"), std::string::npos) << r.output;
  r = run("list --json");
  EXPECT_EQ(r.code, 0);
  auto j = nlohmann::json::parse(r.output);
  EXPECT_FALSE(j["suites"].empty());
}

}  // namespace
