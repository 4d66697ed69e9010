// The runner: Google Benchmark repetitions become raw samples, skips and failures are recorded
// (never passed off as results), filters apply, and the result file is written atomically.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <stdexcept>
#include <vector>

#include "dsbench/error.h"
#include "dsbench/host.h"
#include "dsbench/registry.h"
#include "dsbench/results.h"
#include "dsbench/runner.h"

namespace dsbench {
namespace {
namespace fs = std::filesystem;

std::vector<Benchmark> fake_suite(const SuiteContext& ctx) {
  std::vector<Benchmark> out;
  Benchmark timed;
  timed.name = "spin";
  timed.params = {{"n", 1000}};
  timed.bytes = 4000;
  timed.flops = 1000;
  timed.timed = [](benchmark::State& st) {
    std::vector<float> v(1000, 1.0f);
    for (auto _ : st) {
      float s = 0;
      for (float x : v) s += x;
      benchmark::DoNotOptimize(s);
    }
    st.counters["answer"] = 42;
  };
  out.push_back(timed);

  Benchmark measured;
  measured.name = "bytes_per_token";
  measured.unit = "bytes";
  measured.measure = [] {
    Measurement m;
    m.samples = {70272};
    m.counters["layers"] = 61;
    m.data = {{"series", {1, 2, 3}}};
    return m;
  };
  out.push_back(measured);

  Benchmark skipped;
  skipped.name = "gpu_only";
  skipped.skipped = ctx.cuda_available ? "" : ctx.cuda_reason;
  skipped.measure = [] {
    Measurement m;
    m.samples = {1.0};
    return m;
  };
  out.push_back(skipped);

  Benchmark failing;
  failing.name = "explodes";
  failing.measure = []() -> Measurement { throw std::runtime_error("kaboom"); };
  out.push_back(failing);

  Benchmark ratio;  // derived from "spin" and "bytes_per_token" of this run
  ratio.name = "derived_ratio";
  ratio.unit = "ratio";
  ratio.derive = [](const std::vector<BenchmarkRecord>& earlier) {
    const BenchmarkRecord *spin = nullptr, *bpt = nullptr;
    for (const auto& r : earlier) {
      if (r.name == "spin") spin = &r;
      if (r.name == "bytes_per_token") bpt = &r;
    }
    Measurement m;
    if (spin && bpt) {
      for (double s : spin->samples) m.samples.push_back(bpt->samples[0] * s);
    }
    return m;
  };
  out.push_back(ratio);

  Benchmark gb_skip;
  gb_skip.name = "skip_with_error";
  gb_skip.timed = [](benchmark::State& st) { st.SkipWithError("no CUDA device"); };
  out.push_back(gb_skip);
  return out;
}

DSBENCH_REGISTER_SUITE({"test_fake", "runner test suite", fake_suite});

// Timed benchmarks with scripted per-iteration times (manual time): constant, and uniform on
// [1, 2] ms from a seeded generator, so the median's interval narrows only as samples accumulate.
std::vector<Benchmark> noise_suite(const SuiteContext&) {
  std::vector<Benchmark> out;
  Benchmark steady;
  steady.name = "steady";
  steady.manual_time = true;
  steady.timed = [](benchmark::State& st) {
    for (auto _ : st) st.SetIterationTime(1e-3);
  };
  out.push_back(steady);
  Benchmark jitter;
  jitter.name = "jitter";
  jitter.manual_time = true;
  auto rng = std::make_shared<std::mt19937_64>(7);
  jitter.timed = [rng](benchmark::State& st) {
    const double t = 1e-3 * (1.0 + std::uniform_real_distribution<double>(0, 1)(*rng));
    for (auto _ : st) st.SetIterationTime(t);
  };
  out.push_back(jitter);
  return out;
}

DSBENCH_REGISTER_SUITE({"test_noise", "runner noise-stopping test suite", noise_suite});

const BenchmarkRecord* find(const RunRecord& r, const std::string& name) {
  for (const auto& s : r.suites) {
    for (const auto& b : s.benchmarks) {
      if (b.name == name) return &b;
    }
  }
  return nullptr;
}

RunOptions options(const fs::path& out) {
  RunOptions o;
  o.suites = {{"test_fake", "dsv3-tiny", {}}};
  o.repetitions = 4;
  o.min_time = 0.001;
  o.quick = true;
  o.quiet = true;
  o.device = "cpu";
  o.cuda_available = false;
  o.cuda_reason = "no CUDA device";
  o.out = out;
  o.throttle_threshold = 0;  // exact sample counts below; the throttle test turns it on
  return o;
}

TEST(Runner, CollectsRepetitionsSkipsAndFailures) {
  fs::path out = fs::temp_directory_path() / "dsbench_runner_test" / "run.json";
  fs::remove_all(out.parent_path());
  RunOptions o = options(out);
  o.measure_peaks = true;  // roofline needs peaks; quick peaks take a second or two
  RunOutcome res = run_plan(o);

  const BenchmarkRecord* spin = find(res.record, "spin");
  ASSERT_NE(spin, nullptr);
  EXPECT_FALSE(spin->skipped);
  EXPECT_EQ(spin->samples.size(), 4u) << "one raw sample per repetition";
  EXPECT_EQ(spin->stats.n, 4);
  for (double s : spin->samples) EXPECT_GT(s, 0);
  EXPECT_DOUBLE_EQ(spin->counters["bytes"].get<double>(), 4000);
  EXPECT_NEAR(spin->counters["gbps"].get<double>(), 4000 / spin->stats.median / 1e9, 1e-9);
  EXPECT_GT(spin->counters["roofline_fraction"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(spin->counters["answer"].get<double>(), 42);

  const BenchmarkRecord* bpt = find(res.record, "bytes_per_token");
  ASSERT_NE(bpt, nullptr);
  EXPECT_EQ(bpt->samples, std::vector<double>{70272});
  EXPECT_EQ(bpt->data["series"].size(), 3u);
  EXPECT_EQ(bpt->counters["layers"], 61);

  const BenchmarkRecord* der = find(res.record, "derived_ratio");
  ASSERT_NE(der, nullptr);
  ASSERT_FALSE(der->skipped);
  ASSERT_EQ(der->samples.size(), spin->samples.size()) << "derived sample by sample";
  EXPECT_DOUBLE_EQ(der->samples[0], 70272 * spin->samples[0]);

  const BenchmarkRecord* gpu = find(res.record, "gpu_only");
  ASSERT_NE(gpu, nullptr);
  ASSERT_TRUE(gpu->skipped);
  EXPECT_EQ(*gpu->skipped, "no CUDA device");
  EXPECT_TRUE(gpu->samples.empty());

  const BenchmarkRecord* boom = find(res.record, "explodes");
  ASSERT_NE(boom, nullptr);
  ASSERT_TRUE(boom->skipped);
  EXPECT_NE(boom->skipped->find("failed: kaboom"), std::string::npos);

  const BenchmarkRecord* gbs = find(res.record, "skip_with_error");
  ASSERT_NE(gbs, nullptr);
  ASSERT_TRUE(gbs->skipped);
  EXPECT_EQ(*gbs->skipped, "no CUDA device");

  EXPECT_EQ(res.failures, 1);
  EXPECT_EQ(res.skipped, 2);
  EXPECT_EQ(res.measured, 3);

  // The file on disk is the same record, valid, and the partial log is gone.
  nlohmann::json j = load_result_file(out);
  EXPECT_EQ(j["suites"][0]["benchmarks"].size(), 6u);
  EXPECT_GT(j["host"]["peak"]["read_gbps"].get<double>(), 0);
  EXPECT_GT(j["host"]["peak"]["fma_gflops"].get<double>(), 0);
  const std::string flags = j["host"]["compiler_flags"].get<std::string>();
  EXPECT_NE(flags.find_first_not_of(' '), std::string::npos) << "the fingerprint names the build's flags";
  EXPECT_FALSE(fs::exists(out.string() + ".partial.jsonl"));
  fs::remove_all(out.parent_path());
}

// --max-noise: repetitions are added until the median's 95% interval is narrow enough; a target
// the time budget cannot reach stops at --max-time and is recorded as not converged. Without it,
// exactly --repetitions samples.
TEST(Runner, NoiseBasedStoppingAddsRepetitionsUntilTheMedianIsKnown) {
  fs::path out = fs::temp_directory_path() / "dsbench_runner_noise.json";
  RunOptions o = options(out);
  o.suites = {{"test_noise", "dsv3-tiny", {}}};
  o.measure_peaks = false;

  RunOutcome plain = run_plan(o);
  for (const char* name : {"steady", "jitter"}) {
    const BenchmarkRecord* b = find(plain.record, name);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->samples.size(), 4u) << name;
    EXPECT_FALSE(b->counters.contains("noise_converged")) << name;
  }

  o.max_noise = 0.10;
  o.max_time = 30;
  RunOutcome adaptive = run_plan(o);
  const BenchmarkRecord* steady = find(adaptive.record, "steady");
  ASSERT_NE(steady, nullptr);
  // 4 samples cannot give a 95% interval; one batch of 5 more can (9 samples: 96.1%).
  EXPECT_EQ(steady->samples.size(), 9u);
  EXPECT_EQ(steady->counters["noise_converged"], 1);
  EXPECT_DOUBLE_EQ(steady->stats.noise, 0.0);
  const BenchmarkRecord* jitter = find(adaptive.record, "jitter");
  ASSERT_NE(jitter, nullptr);
  EXPECT_EQ(jitter->counters["noise_converged"], 1);
  EXPECT_LE(jitter->stats.noise, 0.10);
  EXPECT_GE(jitter->stats.median_ci_level, 0.95);
  EXPECT_GT(jitter->samples.size(), 9u) << "uniform [1, 2] ms needs tens of samples for +-10%";

  // An unreachable target ends at the time budget, flagged.
  o.max_noise = 1e-4;
  o.max_time = 0.3;
  o.filter = "jitter";
  const auto t0 = std::chrono::steady_clock::now();
  RunOutcome capped = run_plan(o);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const BenchmarkRecord* j = find(capped.record, "jitter");
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->counters["noise_converged"], 0);
  EXPECT_GT(j->stats.noise, 1e-4);
  EXPECT_GT(j->samples.size(), 4u);
  EXPECT_LT(took, 10.0) << "the budget bounds the run";
  nlohmann::json f = load_result_file(out);
  EXPECT_EQ(f["suites"][0]["benchmarks"][0]["counters"]["noise_converged"], 0);
  EXPECT_TRUE(f["suites"][0]["benchmarks"][0]["stats"].contains("median_ci_low"));
  fs::remove(out);
}

// A CPU benchmark with a scripted time per iteration: 2 ms, one call per repetition, each call
// counted in `calls` when given.
Benchmark two_ms_benchmark(const std::string& name, std::shared_ptr<int> calls = nullptr) {
  Benchmark b;
  b.name = name;
  b.manual_time = true;
  b.timed = [calls](benchmark::State& st) {
    for (auto _ : st) st.SetIterationTime(2e-3);
    if (calls) ++*calls;
  };
  return b;
}

// A compute-bound scripted benchmark that counts its calls, and a measurement: the host speed
// probe is scripted against those calls.
std::shared_ptr<int> g_throttle_calls = std::make_shared<int>(0);
std::vector<Benchmark> throttle_suite(const SuiteContext&) {
  std::vector<Benchmark> out;
  Benchmark steady = two_ms_benchmark("steady", g_throttle_calls);
  steady.flops = 1e9;
  out.push_back(steady);
  Benchmark measured;
  measured.name = "measured";
  measured.unit = "tokens/s";
  measured.measure = [] {
    Measurement m;
    m.samples = {100, 101};
    return m;
  };
  out.push_back(measured);
  return out;
}

DSBENCH_REGISTER_SUITE({"test_throttle", "runner throttle-detection test suite", throttle_suite});

// A memory-bound scripted benchmark, and a measurement that computes its own fraction against the
// read peak it names (as e2e decode does).
std::vector<Benchmark> read_peak_suite(const SuiteContext& ctx) {
  std::vector<Benchmark> out;
  Benchmark stream = two_ms_benchmark("stream");
  stream.bytes = 1e7;
  out.push_back(stream);
  Benchmark own;
  own.name = "own_fraction";
  own.measure = [peak = peak_bandwidth_gbps(ctx.host, "cpu")] {
    Measurement m;
    m.samples = {1e-3, 1e-3};
    m.counters["peak_read_gbps"] = peak;
    m.counters["roofline_fraction"] = 0.8;
    return m;
  };
  out.push_back(own);
  return out;
}

DSBENCH_REGISTER_SUITE({"test_read_peak", "runner read-peak test suite", read_peak_suite});

// The read-peak suite's two fractions once the runner raised the read peak to `peak` from the
// start reading `start`: the runner's own, and the benchmark's, rescaled with its peak_read_gbps.
void expect_read_fractions(const RunRecord& r, double peak, double start) {
  const BenchmarkRecord* s = find(r, "stream");
  ASSERT_NE(s, nullptr);
  EXPECT_NEAR(s->counters["roofline_fraction"].get<double>(), 1e7 / (peak * 1e9) / 2e-3, 1e-9);
  const BenchmarkRecord* own = find(r, "own_fraction");
  ASSERT_NE(own, nullptr);
  EXPECT_NEAR(own->counters["roofline_fraction"].get<double>(), 0.8 * start / peak, 1e-9);
  EXPECT_DOUBLE_EQ(own->counters["peak_read_gbps"].get<double>(), peak);
}

// The read peak's loop reads each thread's slice as each of kReadStreams (1, 4, 8) segments in
// lockstep: whatever the length (remainders shorter than a vector, slices shorter than the
// segments), every element is summed exactly once. Other stream counts are refused.
TEST(Host, ReadLoopSumsEveryElementOnceForEachStreamCount) {
  for (size_t n : {size_t(0), size_t(1), size_t(15), size_t(16), size_t(127), size_t(1000), size_t(4099),
                   size_t(2 * 8 * 16 * 7 + 5), size_t(65536)}) {
    std::vector<float> p(n);
    double want = 0;
    for (size_t i = 0; i < n; ++i) {
      p[i] = float(i % 7 + 1);  // small integers: every partial sum is exact in float
      want += p[i];
    }
    for (int streams : kReadStreams)
      EXPECT_EQ(double(sum_in_streams(p.data(), n, streams)), want) << "n " << n << ", streams " << streams;
  }
  std::vector<float> p(64, 1.0f);
  EXPECT_THROW(sum_in_streams(p.data(), p.size(), 3), std::invalid_argument);
}

// The read peak is measured again after the last benchmark: when the host read faster then, that
// rate becomes the peak and the memory-bound fractions (the runner's and a benchmark's own) are
// redone against it; a slower reading at the end changes nothing but is recorded.
TEST(Runner, ReadPeakIsTheBestOfStartAndEnd) {
  fs::path out = fs::temp_directory_path() / "dsbench_runner_read_peak.json";
  RunOptions o = options(out);
  o.suites = {{"test_read_peak", "dsv3-tiny", {}}};
  o.measure_peaks = true;
  double start = 0;
  o.read_probe = [&] { return 0.0; };
  RunOutcome base = run_plan(o);
  start = base.record.host["peak"]["read_gbps"].get<double>();
  ASSERT_GT(start, 0);
  EXPECT_FALSE(base.record.host["peak"].contains("read_gbps_at_start")) << "a slower end reading changes nothing";
  EXPECT_EQ(base.record.host["peak"]["read_gbps_at_end"], 0);
  const BenchmarkRecord* s0 = find(base.record, "stream");
  ASSERT_NE(s0, nullptr);
  EXPECT_NEAR(s0->counters["roofline_fraction"].get<double>(), 1e7 / (start * 1e9) / 2e-3, 1e-9);

  int calls = 0;
  o.read_probe = [&] {
    ++calls;
    return 4 * start;
  };
  RunOutcome fast = run_plan(o);
  EXPECT_EQ(calls, 1);
  const nlohmann::json& peak = fast.record.host["peak"];
  const double start2 = peak["read_gbps_at_start"].get<double>();
  EXPECT_DOUBLE_EQ(peak["read_gbps"].get<double>(), 4 * start);
  EXPECT_LT(start2, 4 * start);
  expect_read_fractions(fast.record, 4 * start, start2);
  // The file on disk says the same.
  nlohmann::json f = load_result_file(out);
  EXPECT_DOUBLE_EQ(f["host"]["peak"]["read_gbps"].get<double>(), 4 * start);

  // Without peaks there is nothing to redo and no second measurement.
  o.measure_peaks = false;
  calls = 0;
  run_plan(o);
  EXPECT_EQ(calls, 0);
  fs::remove(out);
}

// Readings between benchmarks count too: the best of them and the end reading becomes the peak
// when it beats the start, and each is recorded. With a long interval there are none.
TEST(Runner, ReadPeakTakesReadingsBetweenBenchmarks) {
  fs::path out = fs::temp_directory_path() / "dsbench_runner_read_during.json";
  RunOptions o = options(out);
  o.suites = {{"test_read_peak", "dsv3-tiny", {}}};
  o.measure_peaks = true;
  o.read_probe_interval_s = 0;  // after every CPU benchmark but the last
  double start = 0;
  o.read_probe = [&] { return 0.0; };
  start = run_plan(o).record.host["peak"]["read_gbps"].get<double>();
  ASSERT_GT(start, 0);

  // Two benchmarks: one reading between them (5x the start), then the end reading (2x).
  std::vector<double> readings = {5 * start, 2 * start};
  size_t calls = 0;
  o.read_probe = [&] { return readings.at(calls++); };
  RunOutcome r = run_plan(o);
  EXPECT_EQ(calls, 2u);
  const nlohmann::json& peak = r.record.host["peak"];
  EXPECT_DOUBLE_EQ(peak["read_gbps"].get<double>(), 5 * start);
  EXPECT_DOUBLE_EQ(peak["read_gbps_at_end"].get<double>(), 2 * start);
  ASSERT_TRUE(peak["read_gbps_during"].is_array());
  ASSERT_EQ(peak["read_gbps_during"].size(), 1u);
  EXPECT_DOUBLE_EQ(peak["read_gbps_during"][0].get<double>(), 5 * start);
  expect_read_fractions(r.record, 5 * start, peak["read_gbps_at_start"].get<double>());

  // The default interval (60 s) takes no reading between these millisecond benchmarks.
  o.read_probe_interval_s = 60;
  calls = 0;
  RunOutcome q = run_plan(o);
  EXPECT_EQ(calls, 1u);
  EXPECT_FALSE(q.record.host["peak"].contains("read_gbps_during"));
  fs::remove(out);
}

// Throttle detection: a repetition whose bracketing probes read below the threshold (of the
// measured FMA peak) is set aside and retaken; when the host stays slow, the retakes are bounded
// and the record is flagged, never passed off as a normal one; threshold 0 turns it off.
TEST(Runner, ThrottledRepetitionsAreSetAsideRetakenOrFlagged) {
  fs::path out = fs::temp_directory_path() / "dsbench_runner_throttle.json";
  RunOptions o = options(out);
  o.suites = {{"test_throttle", "dsv3-tiny", {}}};
  o.measure_peaks = true;
  o.throttle_threshold = 0.75;
  o.throttle_recovery = 0;
  // GFLOP/s, both loops: far above and below any measured peak.
  const SpeedReading fast{1e15, 1e15}, slow{0, 0};

  // The first two calls (repetitions) run throttled, then the host recovers.
  *g_throttle_calls = 0;
  o.speed_probe = [&] { return *g_throttle_calls < 2 ? slow : fast; };
  RunOutcome res = run_plan(o);
  const BenchmarkRecord* s = find(res.record, "steady");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(*g_throttle_calls, 6) << "4 repetitions, 2 of them retaken";
  EXPECT_EQ(s->samples.size(), 4u);
  EXPECT_EQ(s->counters["throttled_repetitions"], 2);
  EXPECT_EQ(s->counters["throttled"], 0);
  EXPECT_DOUBLE_EQ(s->counters["host_speed"].get<double>(), 1.0) << "judged against the best rate seen";
  ASSERT_EQ(s->data["throttled_samples"].size(), 2u);
  EXPECT_NEAR(s->data["throttled_samples"][0].get<double>(), 2e-3, 1e-9);
  EXPECT_EQ(s->data["throttled_host_speed"][1], 0);
  const BenchmarkRecord* m = find(res.record, "measured");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->counters["throttled"], 0);
  EXPECT_EQ(res.record.host["speed_probe"]["retaken_benchmarks"], 1);
  EXPECT_EQ(res.record.host["speed_probe"]["throttled_benchmarks"], 0);
  // The probe ran far above the peak measured at the start: the best rate becomes the peak and
  // the compute roofline is redone against it.
  const nlohmann::json& peak = res.record.host["peak"];
  EXPECT_DOUBLE_EQ(peak["fma_gflops"].get<double>(), fast.fma_gflops);
  ASSERT_TRUE(peak.contains("fma_gflops_at_start"));
  EXPECT_LT(peak["fma_gflops_at_start"].get<double>(), fast.fma_gflops);
  EXPECT_NEAR(s->counters["roofline_fraction"].get<double>(), 1e9 / (fast.fma_gflops * 1e9) / s->stats.median,
              1e-30);

  // Contention the register loop does not see: the cache-fed loop slows (calls 1-2; the first
  // call's closing probe and the third call's opening one fall in that window too).
  *g_throttle_calls = 0;
  o.speed_probe = [&] {
    const int c = *g_throttle_calls;
    return c >= 1 && c < 3 ? SpeedReading{fast.fma_gflops, 1.0} : fast;
  };
  RunOutcome cache = run_plan(o);
  s = find(cache.record, "steady");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(*g_throttle_calls, 7) << "4 repetitions, 3 of them retaken";
  EXPECT_EQ(s->samples.size(), 4u);
  EXPECT_EQ(s->counters["throttled_repetitions"], 3);
  EXPECT_EQ(s->counters["throttled"], 0);
  EXPECT_DOUBLE_EQ(cache.record.host["speed_probe"]["min_cache_gflops"].get<double>(), 1.0);

  // A host that stays slow: at most `repetitions` retakes, then every measurement is kept and
  // the records are flagged.
  *g_throttle_calls = 0;
  o.speed_probe = [&] { return slow; };
  RunOutcome stuck = run_plan(o);
  s = find(stuck.record, "steady");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(*g_throttle_calls, 8);
  EXPECT_EQ(s->samples.size(), 8u);
  EXPECT_EQ(s->counters["throttled"], 1);
  EXPECT_EQ(s->counters["throttled_repetitions"], 8);
  EXPECT_FALSE(s->data.contains("throttled_samples"));
  m = find(stuck.record, "measured");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->counters["throttled"], 1);
  EXPECT_EQ(m->samples.size(), 2u) << "a measurement is flagged, not retaken";
  nlohmann::json f = load_result_file(out);
  EXPECT_EQ(f["host"]["speed_probe"]["throttled_benchmarks"], 2);
  EXPECT_EQ(f["suites"][0]["benchmarks"][0]["counters"]["throttled"], 1);

  // Off: no probes, no counters.
  o.throttle_threshold = 0;
  *g_throttle_calls = 0;
  RunOutcome off = run_plan(o);
  s = find(off.record, "steady");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->samples.size(), 4u);
  EXPECT_FALSE(s->counters.contains("host_speed"));
  EXPECT_FALSE(off.record.host.contains("speed_probe"));
  fs::remove(out);
}

TEST(Runner, FilterSelectsByKey) {
  fs::path out = fs::temp_directory_path() / "dsbench_runner_filter.json";
  RunOptions o = options(out);
  o.measure_peaks = false;
  o.filter = "spin\\{.*\"n\":1000";
  RunOutcome res = run_plan(o);
  ASSERT_EQ(res.record.suites[0].benchmarks.size(), 1u);
  EXPECT_EQ(res.record.suites[0].benchmarks[0].name, "spin");
  fs::remove(out);
}

TEST(Runner, BadInputIsRejectedBeforeAnythingIsWritten) {
  fs::path out = fs::temp_directory_path() / "dsbench_runner_bad.json";
  fs::remove(out);
  RunOptions o = options(out);
  o.suites = {{"no_such_suite", "dsv3-tiny", {}}};
  EXPECT_THROW(run_plan(o), UsageError);
  o.suites = {{"test_fake", "no-such-model", {}}};
  EXPECT_THROW(run_plan(o), UsageError);
  o.suites = {{"test_fake", "dsv3-tiny", {}}};
  o.filter = "([";
  EXPECT_THROW(run_plan(o), UsageError);
  EXPECT_FALSE(fs::exists(out));
  EXPECT_THROW(resolve_device("tpu", false), UsageError);
  EXPECT_EQ(resolve_device("auto", false), "cpu");
  EXPECT_EQ(resolve_device("auto", true), "cuda");
}

TEST(Runner, PlanFilesAreValidated) {
  fs::path p = fs::temp_directory_path() / "dsbench_plan_test.json";
  auto write = [&](const nlohmann::json& j) { write_json_atomic(p, j); };
  RunOptions o;
  write({{"repetitions", 7}, {"max_noise", 0.02}, {"max_time", 5}, {"throttle_threshold", 0.8},
         {"throttle_recovery", 0.5}, {"suites", {{{"suite", "kv_cache"}, {"model", "deepseek-v3"}}}}});
  apply_plan_file(p, o);
  EXPECT_EQ(o.repetitions, 7);
  EXPECT_DOUBLE_EQ(o.throttle_threshold, 0.8);
  EXPECT_DOUBLE_EQ(o.throttle_recovery, 0.5);
  EXPECT_DOUBLE_EQ(o.max_noise, 0.02);
  EXPECT_DOUBLE_EQ(o.max_time, 5);
  ASSERT_EQ(o.suites.size(), 1u);
  EXPECT_EQ(o.suites[0].model, "deepseek-v3");
  for (const auto& [bad, field] : std::vector<std::pair<nlohmann::json, std::string>>{
           {{{"suites", nlohmann::json::array()}}, "suites"},
           {{{"repetitions", 0}, {"suites", {{{"suite", "a"}}}}}, "repetitions"},
           {{{"suites", {{{"model", "x"}}}}}, "suites[0].suite"},
           {{{"suites", {{{"suite", "a"}}}}, {"bogus", 1}}, "bogus"},
           {{{"suites", {{{"suite", "a"}}}}, {"max_noise", 2}}, "max_noise"},
           {{{"suites", {{{"suite", "a"}}}}, {"max_noise", "2%"}}, "max_noise"},
           {{{"suites", {{{"suite", "a"}}}}, {"max_time", 0}}, "max_time"},
           {{{"suites", {{{"suite", "a"}}}}, {"throttle_threshold", 1}}, "throttle_threshold"},
           {{{"suites", {{{"suite", "a"}}}}, {"throttle_threshold", "75%"}}, "throttle_threshold"},
           {{{"suites", {{{"suite", "a"}}}}, {"throttle_recovery", -1}}, "throttle_recovery"}}) {
    write(bad);
    try {
      apply_plan_file(p, o);
      ADD_FAILURE() << "accepted " << bad.dump();
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
    }
  }
  fs::remove(p);
}

// Every shipped plan parses and names only registered suites and known models.
TEST(Runner, ShippedPlansAreValid) {
  for (const auto& e : fs::directory_iterator(fs::path(DSBENCH_SOURCE_DIR) / "suites" / "plans")) {
    RunOptions o;
    ASSERT_NO_THROW(apply_plan_file(e.path(), o)) << e.path();
    for (const auto& s : o.suites) {
      EXPECT_NE(find_suite(s.suite), nullptr) << e.path() << ": " << s.suite;
      EXPECT_NO_THROW(load_model(s.model)) << e.path() << ": " << s.model;
    }
  }
}

}  // namespace
}  // namespace dsbench
