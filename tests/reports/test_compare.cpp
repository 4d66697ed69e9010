// compare on whole result documents: matching, missing/new, skipped, overrides, roofline
// normalisation, host warnings, output formats and the gate's exit codes.
#include <gtest/gtest.h>

#include "dsbench/error.h"
#include "dsbench/reports/compare.h"
#include "dsbench/results.h"
#include "fixtures.h"

namespace dsbench::reports {
namespace {
using nlohmann::json;

std::vector<double> noisy(uint64_t seed, double center) {
  std::mt19937_64 rng(seed);
  return test::lognormal_samples(rng, center, 0.02, 10);
}

json base_run() {
  json kv = json::array({
      test::make_bench("decode_attention/mla_absorbed", {{"context", 4096}}, noisy(1, 1e-3), "s",
                       "lower", {{"bytes", 1e6}, {"roofline_fraction", 0.5}}),
      test::make_bench("decode_attention/mla_absorbed", {{"context", 8192}}, noisy(2, 2e-3), "s",
                       "lower", {{"bytes", 2e6}, {"roofline_fraction", 0.5}}),
      test::make_bench("kv_bytes_per_token", {{"attention", "mla"}}, {70272}, "B", "lower"),
      test::make_bench("removed_later", json::object(), noisy(3, 1.0)),
      test::make_skipped("gpu_only", json::object(), "no CUDA device"),
  });
  json e2e = json::array({test::make_bench("decode", {{"batch", 8}}, noisy(4, 500.0), "tokens/s",
                                           "higher")});
  return test::make_run("base", {test::make_suite("kv_cache", kv), test::make_suite("e2e", e2e)});
}

json cand_run(double slowdown, double tokens_factor) {
  json kv = json::array({
      test::make_bench("decode_attention/mla_absorbed", {{"context", 4096}},
                       noisy(11, 1e-3 * slowdown), "s", "lower",
                       {{"bytes", 1e6}, {"roofline_fraction", 0.5 / slowdown}}),
      test::make_bench("decode_attention/mla_absorbed", {{"context", 8192}}, noisy(12, 2e-3), "s",
                       "lower", {{"bytes", 2e6}, {"roofline_fraction", 0.5}}),
      test::make_bench("kv_bytes_per_token", {{"attention", "mla"}}, {70272}, "B", "lower"),
      test::make_skipped("gpu_only", json::object(), "no CUDA device"),
      test::make_bench("brand_new", json::object(), noisy(13, 1.0)),
  });
  json e2e = json::array({test::make_bench("decode", {{"batch", 8}}, noisy(14, 500.0 * tokens_factor),
                                           "tokens/s", "higher")});
  return test::make_run("cand", {test::make_suite("kv_cache", kv), test::make_suite("e2e", e2e)});
}

const BenchmarkDelta& row(const Comparison& c, const std::string& key) {
  for (const auto& r : c.rows) {
    if (r.key == key) return r;
  }
  throw std::runtime_error("no row " + key);
}

TEST(Compare, MatchesBySuiteNameAndParams) {
  auto c = compare_runs(base_run(), cand_run(1.0, 1.0), {}, "b.json", "c.json");
  EXPECT_EQ(c.rows.size(), 5u);
  EXPECT_EQ(c.missing, std::vector<std::string>{"kv_cache/removed_later"});
  EXPECT_EQ(c.added, std::vector<std::string>{"kv_cache/brand_new"});
  EXPECT_EQ(row(c, "kv_cache/decode_attention/mla_absorbed{\"context\":4096}").result.verdict,
            Verdict::kUnchanged);
  EXPECT_EQ(row(c, "kv_cache/gpu_only").result.verdict, Verdict::kSkipped);
  EXPECT_FALSE(c.gate_failed());
  EXPECT_TRUE(c.host_warnings.empty());
}

TEST(Compare, SlowdownFailsTheGateAndFasterTokensPass) {
  auto c = compare_runs(base_run(), cand_run(1.25, 1.25), {}, "b.json", "c.json");
  EXPECT_EQ(row(c, "kv_cache/decode_attention/mla_absorbed{\"context\":4096}").result.verdict,
            Verdict::kRegressed);
  EXPECT_EQ(row(c, "e2e/decode{\"batch\":8}").result.verdict, Verdict::kImproved);
  EXPECT_TRUE(c.gate_failed());
  EXPECT_EQ(c.count(Verdict::kRegressed), 1);

  auto slower_tokens = compare_runs(base_run(), cand_run(1.0, 0.75), {}, "b.json", "c.json");
  EXPECT_EQ(row(slower_tokens, "e2e/decode{\"batch\":8}").result.verdict, Verdict::kRegressed);
  EXPECT_TRUE(slower_tokens.gate_failed());
}

// A benchmark measured while the host was throttled keeps its verdict and says so.
TEST(Compare, ThrottledRunsAreNamedNextToTheVerdict) {
  json cand = cand_run(1.25, 1.0);
  cand["suites"][0]["benchmarks"][0]["counters"]["throttled"] = 1;
  auto c = compare_runs(base_run(), cand, {}, "b.json", "c.json");
  const auto& r = row(c, "kv_cache/decode_attention/mla_absorbed{\"context\":4096}");
  EXPECT_EQ(r.result.verdict, Verdict::kRegressed);
  EXPECT_NE(r.result.note.find("host throttled in the candidate"), std::string::npos) << r.result.note;
  EXPECT_TRUE(c.gate_failed()) << "a throttled host does not excuse a regression";
  json base = base_run();
  base["suites"][0]["benchmarks"][1]["counters"]["throttled"] = 1;
  auto b = compare_runs(base, cand_run(1.0, 1.0), {}, "b.json", "c.json");
  EXPECT_NE(row(b, "kv_cache/decode_attention/mla_absorbed{\"context\":8192}").result.note.find("the baseline"),
            std::string::npos);
  EXPECT_EQ(row(b, "kv_cache/decode_attention/mla_absorbed{\"context\":4096}").result.note.find("throttled"),
            std::string::npos);
}

TEST(Compare, OverridesUngateOrLoosen) {
  CompareOptions opts;
  opts.overrides = {{"kv_cache/decode_attention/*", std::nullopt, std::nullopt, false}};
  auto c = compare_runs(base_run(), cand_run(1.25, 1.0), opts, "b.json", "c.json");
  EXPECT_EQ(row(c, "kv_cache/decode_attention/mla_absorbed{\"context\":4096}").result.verdict,
            Verdict::kRegressed);
  EXPECT_FALSE(c.gate_failed());

  opts.overrides = {{"*context\":4096*", 0.5, std::nullopt, std::nullopt}};
  auto loose = compare_runs(base_run(), cand_run(1.25, 1.0), opts, "b.json", "c.json");
  EXPECT_EQ(row(loose, "kv_cache/decode_attention/mla_absorbed{\"context\":4096}").result.verdict,
            Verdict::kUnchanged);
}

TEST(Compare, OverridesFileFormsAndErrors) {
  auto dir = test::scratch_dir("overrides");
  test::write_file(dir / "list.json", R"([{"match": "e2e/*", "threshold": "10%", "gate": false}])");
  auto list = load_overrides(dir / "list.json");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_DOUBLE_EQ(*list[0].threshold, 0.10);
  EXPECT_FALSE(*list[0].gate);
  test::write_file(dir / "map.json", R"({"kv_cache/*": {"alpha": 0.05}})");
  EXPECT_DOUBLE_EQ(*load_overrides(dir / "map.json")[0].alpha, 0.05);
  test::write_file(dir / "bad.json", R"([{"match": "x", "treshold": 1}])");
  try {
    load_overrides(dir / "bad.json");
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("treshold"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
}

TEST(Compare, StrictFailsOnMissingOrNewlySkipped) {
  CompareOptions opts;
  opts.strict = true;
  auto c = compare_runs(base_run(), cand_run(1.0, 1.0), opts, "b.json", "c.json");
  EXPECT_TRUE(c.gate_failed());  // removed_later went missing
  json cand = cand_run(1.0, 1.0);
  cand["suites"][0]["benchmarks"].push_back(test::make_bench("removed_later", json::object(), noisy(3, 1.0)));
  EXPECT_FALSE(compare_runs(base_run(), cand, opts, "b", "c").gate_failed());
  // A benchmark measured in the baseline but skipped now is never a pass under strict.
  cand["suites"][0]["benchmarks"][1] =
      test::make_skipped("decode_attention/mla_absorbed", {{"context", 8192}}, "no CUDA device");
  auto s = compare_runs(base_run(), cand, opts, "b", "c");
  EXPECT_EQ(row(s, "kv_cache/decode_attention/mla_absorbed{\"context\":8192}").result.verdict,
            Verdict::kSkipped);
  EXPECT_TRUE(s.gate_failed());
  EXPECT_EQ(s.count(Verdict::kUnchanged) + s.count(Verdict::kImproved), 4);
}

// A different OpenBLAS kernel set is a difference in how the runs measured (not in the host); a
// run that did not record one is not compared.
TEST(Compare, BlasCoreDifferenceWarns) {
  json base = base_run(), cand = cand_run(1.0, 1.0);
  cand["host"]["blas"] = {{"library", "OpenBLAS"}, {"core", "Prescott"}};
  EXPECT_TRUE(compare_runs(base, cand, {}, "b", "c").method_warnings.empty());
  base["host"]["blas"] = {{"library", "OpenBLAS"}, {"core", "SkylakeX"}};
  const auto c = compare_runs(base, cand, {}, "b", "c");
  EXPECT_TRUE(c.host_warnings.empty()) << "the same machine";
  ASSERT_EQ(c.method_warnings.size(), 1u);
  EXPECT_NE(c.method_warnings[0].find("host.blas.core"), std::string::npos) << c.method_warnings[0];
  EXPECT_NE(c.method_warnings[0].find("Prescott"), std::string::npos) << c.method_warnings[0];
  EXPECT_NE(format_text(c).find("warning: runs measured differently: host.blas.core"), std::string::npos);
  cand["host"]["blas"]["core"] = "SkylakeX";
  EXPECT_TRUE(compare_runs(base, cand, {}, "b", "c").method_warnings.empty());
}

// A read peak taken the old way (one stream per thread, no read_streams) against the best of
// several streams: the memory-bound fractions differ by the method, so compare says so.
TEST(Compare, ReadPeakMethodDifferenceWarns) {
  json base = base_run(), cand = cand_run(1.0, 1.0);
  base["host"]["peak"] = {{"read_gbps", 23.0}, {"fma_gflops", 350.0}};
  cand["host"]["peak"] = {{"read_gbps", 40.0}, {"fma_gflops", 350.0}, {"read_streams", {1, 4, 8}}};
  const auto c = compare_runs(base, cand, {}, "b", "c");
  ASSERT_EQ(c.method_warnings.size(), 1u);
  EXPECT_NE(c.method_warnings[0].find("host.peak.read_streams: [1] vs [1,4,8]"), std::string::npos)
      << c.method_warnings[0];
  // The same machine: times compare, so the text must not send the user to roofline fractions.
  EXPECT_TRUE(c.host_warnings.empty());
  const std::string text = format_text(c);
  EXPECT_NE(text.find("runs measured differently: host.peak.read_streams"), std::string::npos) << text;
  EXPECT_EQ(text.find("--normalize roofline"), std::string::npos) << text;
  EXPECT_NE(format_markdown(c).find("runs measured differently"), std::string::npos);
  EXPECT_EQ(c.to_json()["method_warnings"].size(), 1u);
  base["host"]["peak"]["read_streams"] = {1, 4, 8};
  EXPECT_TRUE(compare_runs(base, cand, {}, "b", "c").method_warnings.empty());
  base["host"]["peak"] = json::object();  // no peaks measured: nothing to compare
  EXPECT_TRUE(compare_runs(base, cand, {}, "b", "c").method_warnings.empty());
}

TEST(Compare, HostDifferencesWarnAndRooflineNormalises) {
  json cand = cand_run(2.0, 1.0);  // twice as slow, but on a host half as fast
  cand["host"]["cpu"] = "Other CPU";
  cand["suites"][0]["benchmarks"][0]["counters"]["roofline_fraction"] = 0.5;
  auto raw = compare_runs(base_run(), cand, {}, "b", "c");
  ASSERT_FALSE(raw.host_warnings.empty());
  EXPECT_NE(raw.host_warnings[0].find("Other CPU"), std::string::npos);
  EXPECT_TRUE(raw.gate_failed());

  CompareOptions opts;
  opts.normalize_roofline = true;
  auto norm = compare_runs(base_run(), cand, opts, "b", "c");
  const auto& r = row(norm, "kv_cache/decode_attention/mla_absorbed{\"context\":4096}");
  EXPECT_EQ(r.metric, "roofline_fraction");
  EXPECT_EQ(r.result.verdict, Verdict::kUnchanged);
  EXPECT_NEAR(r.result.cand_median, 0.5, 1e-3);
  // Benchmarks without a roofline fraction are reported but not gated.
  EXPECT_FALSE(row(norm, "e2e/decode{\"batch\":8}").gated);
  EXPECT_FALSE(norm.gate_failed());
}

TEST(Compare, FormatsNameEveryVerdict) {
  auto c = compare_runs(base_run(), cand_run(1.25, 1.25), {}, "b.json", "c.json");
  std::string text = format_text(c);
  EXPECT_NE(text.find("regressed"), std::string::npos);
  EXPECT_NE(text.find("gate: FAILED"), std::string::npos);
  EXPECT_NE(text.find("missing      kv_cache/removed_later"), std::string::npos);
  std::string md = format_markdown(c);
  EXPECT_NE(md.find("| **regressed** |"), std::string::npos);
  json j = c.to_json();
  EXPECT_EQ(j["schema"], "dsbench.compare/1");
  EXPECT_EQ(j["summary"]["regressed"], 1);
  EXPECT_EQ(j["gate_failed"], true);
  EXPECT_EQ(j["new"][0], "kv_cache/brand_new");
}

TEST(Compare, MarkdownCellsCannotBreakTheTable) {
  json base = test::make_run("b", {test::make_suite("s", {test::make_bench("a|b`c", json::object(), {1.0})})});
  json cand = test::make_run("c", {test::make_suite("s", {test::make_bench("a|b`c", json::object(), {2.0})})});
  std::string md = format_markdown(compare_runs(base, cand, {}, "b", "c"));
  EXPECT_NE(md.find("a\\|b'c"), std::string::npos) << md;
}

TEST(Compare, FractionParsing) {
  EXPECT_DOUBLE_EQ(parse_fraction("5%", "--threshold"), 0.05);
  EXPECT_DOUBLE_EQ(parse_fraction("0.05", "--threshold"), 0.05);
  EXPECT_THROW(parse_fraction("five", "--threshold"), UsageError);
  EXPECT_THROW(parse_fraction("-1%", "--threshold"), UsageError);
  EXPECT_THROW(parse_fraction("", "--alpha"), UsageError);
}

TEST(Compare, GlobMatching) {
  EXPECT_TRUE(glob_match("kv_cache/*", "kv_cache/decode{\"context\":1}"));
  EXPECT_TRUE(glob_match("*decode?", "e2e/decodeX"));
  EXPECT_FALSE(glob_match("e2e/*", "kv_cache/e2e/x"));
  EXPECT_TRUE(glob_match("*", ""));
}

// ---- the executable: exit codes 0 / 1 / 2 -----------------------------------------------------

TEST(CompareCli, ExitCodesFollowTheGate) {
  auto dir = test::scratch_dir("compare_cli");
  write_json_atomic(dir / "base.json", base_run());
  write_json_atomic(dir / "same.json", cand_run(1.0, 1.0));
  write_json_atomic(dir / "slow.json", cand_run(1.25, 1.0));
  auto same = test::run_dsbench("compare " + (dir / "base.json").string() + " " +
                                (dir / "same.json").string(), dir);
  EXPECT_EQ(same.code, 0) << same.out << same.err;
  EXPECT_NE(same.out.find("gate: passed"), std::string::npos) << same.out;
  auto slow = test::run_dsbench("compare " + (dir / "base.json").string() + " " +
                                (dir / "slow.json").string() + " --format md", dir);
  EXPECT_EQ(slow.code, 1) << slow.out << slow.err;
  EXPECT_NE(slow.out.find("**regressed**"), std::string::npos) << slow.out;
  auto json_out = test::run_dsbench("compare " + (dir / "base.json").string() + " " +
                                    (dir / "slow.json").string() + " --format json --threshold 50%", dir);
  EXPECT_EQ(json_out.code, 0) << json_out.err;
  EXPECT_EQ(json::parse(json_out.out)["gate_failed"], false);
  auto bad_opt = test::run_dsbench("compare " + (dir / "base.json").string() + " " +
                                   (dir / "slow.json").string() + " --format xml", dir);
  EXPECT_EQ(bad_opt.code, 2);
  EXPECT_NE(bad_opt.err.find("--format"), std::string::npos) << bad_opt.err;
  // scripts/gate.sh wraps the same exit codes and can write the Markdown table for CI.
  std::string gate = "DSBENCH='" + std::string(DSBENCH_EXE) + "' DSBENCH_GATE_MD='" +
                     (dir / "gate.md").string() + "' bash scripts/gate.sh ";
  EXPECT_EQ(std::system((gate + (dir / "base.json").string() + " " + (dir / "same.json").string() +
                         " >/dev/null 2>&1").c_str()) >> 8, 0);
  EXPECT_EQ(std::system((gate + (dir / "base.json").string() + " " + (dir / "slow.json").string() +
                         " >/dev/null 2>&1").c_str()) >> 8, 1);
  EXPECT_NE(test::read_file(dir / "gate.md").find("gate FAILED"), std::string::npos);
  EXPECT_EQ(std::system((gate + (dir / "base.json").string() + " " + (dir / "missing.json").string() +
                         " >/dev/null 2>&1").c_str()) >> 8, 2);
  auto help = test::run_dsbench("compare --help", dir);
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("--threshold"), std::string::npos);
}

}  // namespace
}  // namespace dsbench::reports
