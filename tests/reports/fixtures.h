// Result documents written by the report tests themselves (valid dsbench.result/1), so the
// report, compare and history code is tested without running any benchmark.
#pragma once

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sys/wait.h>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/stats.h"

namespace dsbench::test {

inline nlohmann::json make_bench(const std::string& name, nlohmann::json params,
                                 const std::vector<double>& samples, const std::string& unit = "s",
                                 const std::string& direction = "lower",
                                 nlohmann::json counters = nlohmann::json::object()) {
  return {{"name", name},           {"params", std::move(params)},
          {"unit", unit},           {"direction", direction},
          {"samples", samples},     {"stats", to_json(compute_stats(samples))},
          {"counters", counters},   {"skipped", nullptr}};
}

inline nlohmann::json make_skipped(const std::string& name, nlohmann::json params,
                                   const std::string& reason) {
  nlohmann::json b = make_bench(name, std::move(params), {});
  b["skipped"] = reason;
  return b;
}

inline nlohmann::json make_host(const std::string& cpu = "Test CPU 9000") {
  return {{"cpu", cpu},
          {"cores", 2},
          {"memory_bytes", 25769803776.0},
          {"peak", {{"read_gbps", 20.0}, {"triad_gbps", 15.0}, {"fma_gflops", 100.0}}},
          {"gpus", nlohmann::json::array()},
          {"compiler", "GNU 12.2.0"},
          {"build_type", "Release"},
          {"cuda", nullptr},
          {"git_sha", "0123456789abcdef"},
          {"dirty", false}};
}

inline nlohmann::json make_run(const std::string& run_id, nlohmann::json suites,
                               const std::string& started_at = "2026-11-28T10:00:00Z",
                               nlohmann::json host = make_host()) {
  return {{"schema", "dsbench.result/1"},
          {"run_id", run_id},
          {"started_at", started_at},
          {"finished_at", started_at},
          {"command", "dsbench run --quick"},
          {"host", std::move(host)},
          {"suites", std::move(suites)},
          {"traces", nlohmann::json::array()}};
}

inline nlohmann::json make_suite(const std::string& name, nlohmann::json benchmarks,
                                 const std::string& model = "dsv3-tiny",
                                 const std::string& device = "cpu") {
  return {{"name", name}, {"model", model}, {"device", device}, {"benchmarks", std::move(benchmarks)}};
}

// n samples of `center` with multiplicative lognormal noise of relative sigma `noise`.
inline std::vector<double> lognormal_samples(std::mt19937_64& rng, double center, double noise,
                                             int n) {
  std::normal_distribution<double> z(0.0, noise);
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(center * std::exp(z(rng)));
  return v;
}

// A fresh folder under the build tree for one test's files.
inline std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = std::filesystem::path(DSBENCH_BINARY_DIR) / "test-scratch" / "reports" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs the dsbench executable; returns its exit code, stdout and stderr in files under dir.
struct ExeResult {
  int code = -1;
  std::string out, err;
};
inline ExeResult run_dsbench(const std::string& args, const std::filesystem::path& dir) {
  auto out = dir / "stdout.txt", err = dir / "stderr.txt";
  std::string cmd = std::string("'") + DSBENCH_EXE + "' " + args + " >'" + out.string() + "' 2>'" +
                    err.string() + "'";
  int rc = std::system(cmd.c_str());
  ExeResult r;
  r.code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

}  // namespace dsbench::test
