// `dsbench kv` and `dsbench vram` end to end: known answers in the JSON, exit 2 on bad input.
#include <array>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

namespace {

struct CmdResult {
  int code;
  std::string out;
};

CmdResult run(const std::string& args) {
  const std::string cmd = std::string(DSBENCH_EXE) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

const nlohmann::json* variant(const nlohmann::json& r, const std::string& kind) {
  for (const auto& v : r["variants"])
    if (v["kind"] == kind) return &v;
  return nullptr;
}

TEST(CliKv, DeepSeekV3AndLlamaBytesPerToken) {
  CmdResult d = run("kv --model deepseek-v3 --context 131072 --json");
  ASSERT_EQ(d.code, 0) << d.out;
  const auto jd = nlohmann::json::parse(d.out);
  ASSERT_NE(variant(jd, "mla_absorbed"), nullptr);
  EXPECT_EQ((*variant(jd, "mla_absorbed"))["bytes_per_token"].get<double>(), 70272.0);
  CmdResult l = run("kv --model llama-3.3-70b --context 131072 --json");
  ASSERT_EQ(l.code, 0) << l.out;
  const auto jl = nlohmann::json::parse(l.out);
  EXPECT_EQ((*variant(jl, "gqa"))["bytes_per_token"].get<double>(), 327680.0);
  CmdResult t = run("kv --model llama-3.3-70b --context 131072 --budget 80");
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_NE(t.out.find("42.9 GB"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("40.0 GiB"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("max context"), std::string::npos);
}

TEST(CliKv, BadInputExitsTwoNamingIt) {
  CmdResult a = run("kv --model no-such-model");
  EXPECT_EQ(a.code, 2);
  EXPECT_NE(a.out.find("no-such-model"), std::string::npos) << a.out;
  CmdResult b = run("kv --model deepseek-v3 --dtype int3");
  EXPECT_EQ(b.code, 2);
  EXPECT_NE(b.out.find("--dtype"), std::string::npos) << b.out;
  CmdResult c = run("kv --bogus");
  EXPECT_EQ(c.code, 2);
  EXPECT_NE(c.out.find("bogus"), std::string::npos) << c.out;
  CmdResult d = run("kv --context -5");
  EXPECT_EQ(d.code, 2);
  CmdResult e = run("vram --model deepseek-v3 --quant q9_x");
  EXPECT_EQ(e.code, 2);
  EXPECT_NE(e.out.find("q9_x"), std::string::npos) << e.out;
  EXPECT_EQ(run("kv --help").code, 0);
  EXPECT_EQ(run("vram --help").code, 0);
}

TEST(CliVram, FitsTableForQ4) {
  CmdResult r = run("vram --model llama-3.3-70b --quant Q4_K_M --context 8192 --batch 1 --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["quant"]["bits_per_weight"].get<double>(), 4.85);
  EXPECT_NEAR(j["weights_bytes"].get<double>() / 1e9, 70.6 * 4.85 / 8, 1.0);
  bool h100 = false;
  for (const auto& g : j["gpus"])
    if (g["id"] == "h100-80g") {
      h100 = true;
      EXPECT_TRUE(g["counts"]["1"]["fits"].get<bool>());  // ~43 GB + KV + overhead
    }
  EXPECT_TRUE(h100);
  CmdResult t = run("vram --model deepseek-v3 --quant fp8 --context 131072 --batch 1");
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_NE(t.out.find("H200 141G"), std::string::npos);
  EXPECT_NE(t.out.find("MI300X 192G"), std::string::npos);
}

// A model far below a billion parameters prints its counts and bytes in units that show them,
// not as 0.00B and 0.0 GB.
TEST(CliVram, SmallModelPrintsMillionsAndMegabytes) {
  CmdResult r = run("vram --model dsv3-tiny --quant bf16 --context 128 --batch 1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("0.00B"), std::string::npos) << r.out;
  // 48.75M parameters (37.75M in routed experts) at 2 bytes: 97.5 MB.
  EXPECT_NE(r.out.find("48.75M counted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("routed experts 37.75M"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("weights:  97.5 MB"), std::string::npos) << r.out;
  // 128 tokens x 1,280 B in whole 64-token blocks: 0.2 MB.
  EXPECT_NE(r.out.find("KV cache: 0.2 MB"), std::string::npos) << r.out;
}

}  // namespace
