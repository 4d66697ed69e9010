// Runs a plan: each suite's benchmarks, timed ones through Google Benchmark, into one RunRecord.
#include "dsbench/runner.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include <benchmark/benchmark.h>

#include "dsbench/config.h"
#include "dsbench/error.h"
#include "dsbench/host.h"
#include "dsbench/registry.h"
#include "dsbench/trace.h"

namespace dsbench {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Collects every repetition of one Google Benchmark run as raw samples (seconds per iteration)
// and the median of each user counter. Aggregates are ignored: we compute our own statistics.
class SampleCollector : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& run : runs) {
      if (run.run_type != Run::RT_Iteration) continue;
      if (run.error_occurred) {
        error = run.error_message;
        continue;
      }
      if (run.iterations <= 0) continue;
      samples.push_back(run.real_accumulated_time / double(run.iterations));
      iterations.push_back(double(run.iterations));
      for (const auto& [name, counter] : run.counters) counters[name].push_back(counter.value);
    }
  }
  std::vector<double> samples, iterations;
  std::map<std::string, std::vector<double>> counters;
  std::string error;
};

std::string make_run_id() {
  std::random_device rd;
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", unsigned(rd()));
  std::string t = utc_now_iso8601();
  std::string compact;
  for (char c : t) {
    if (c != '-' && c != ':') compact += c;
  }
  return compact + "-" + suffix;
}

std::string format_duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, (int(s) % 3600) / 60);
  return buf;
}

class Progress {
 public:
  Progress(bool enabled, size_t total) : enabled_(enabled), total_(total) {
    t0_ = std::chrono::steady_clock::now();
  }
  void begin(size_t index, const std::string& label) {
    if (!enabled_) return;
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    std::string eta = index > 0 ? " ETA " + format_duration(elapsed / index * (total_ - index)) : "";
    std::fprintf(stderr, "\r\033[K[%zu/%zu]%s %s", index + 1, total_, eta.c_str(), label.c_str());
    std::fflush(stderr);
  }
  void end() {
    if (!enabled_) return;
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    std::fprintf(stderr, "\r\033[K%zu benchmarks in %s\n", total_, format_duration(elapsed).c_str());
  }

 private:
  bool enabled_;
  size_t total_;
  std::chrono::steady_clock::time_point t0_;
};

double median_of(std::vector<double> v) { return compute_stats(v).median; }

// Fills gbps, gflops and roofline_fraction from the declared work and the median time.
void add_roofline_counters(BenchmarkRecord& rec, double bytes, double flops, const json& host,
                           const std::string& device) {
  if (bytes > 0) rec.counters["bytes"] = bytes;
  if (flops > 0) rec.counters["flops"] = flops;
  if (rec.unit != "s" || rec.samples.empty() || rec.stats.median <= 0) return;
  double t = rec.stats.median;
  if (bytes > 0) rec.counters["gbps"] = bytes / t / 1e9;
  if (flops > 0) rec.counters["gflops"] = flops / t / 1e9;
  if (bytes > 0 || flops > 0) {
    double bw = peak_bandwidth_gbps(host, device), fl = peak_gflops(host, device);
    if (bw > 0 || fl > 0) {
      // A counter the benchmark computed itself (e.g. e2e decode's active-bytes roofline) wins.
      if (!rec.counters.contains("roofline_fraction")) {
        rec.counters["roofline_fraction"] = roofline_fraction(t, bytes, flops, bw, fl);
      }
    }
  }
}

// The host speed checks of one run (RunOptions::throttle_threshold): the probe, the best rates it
// is compared with, and the range of what it read. The register loop is the FMA peak's own loop,
// shorter, so a reading above the peak measured at the start shows that the host was slow then;
// the cache-fed loop has no peak of its own and is judged against its best reading. Both bests
// start from a few readings taken before the first benchmark and rise as the run goes.
struct SpeedCheck {
  std::function<SpeedReading()> probe;
  double peak = 0;       // GFLOP/s, host.peak.fma_gflops at the start of the run
  double threshold = 0;  // fraction of the best rate below which a repetition counts as throttled
  double recovery = 0;   // seconds to wait before retaking throttled repetitions
  double min_gflops = INFINITY, max_gflops = 0;              // register loop
  double min_cache_gflops = INFINITY, max_cache_gflops = 0;  // cache-fed loop
  long probes = 0;
  int retaken = 0, flagged = 0;  // benchmarks with retakes; benchmarks that ran throttled throughout
  bool on() const { return threshold > 0 && peak > 0 && bool(probe); }
  SpeedReading read() {
    const SpeedReading r = probe();
    ++probes;
    min_gflops = std::min(min_gflops, r.fma_gflops);
    max_gflops = std::max(max_gflops, r.fma_gflops);
    min_cache_gflops = std::min(min_cache_gflops, r.cache_gflops);
    max_cache_gflops = std::max(max_cache_gflops, r.cache_gflops);
    return r;
  }
  // The slower of the two loops, each over its best rate so far.
  double speed() {
    const SpeedReading r = read();
    double s = r.fma_gflops / std::max(peak, max_gflops);
    if (max_cache_gflops > 0) s = std::min(s, r.cache_gflops / max_cache_gflops);
    return s;
  }
};

// warn: report on stderr a benchmark whose noise stayed above --max-noise, or that ran throttled
// throughout (tty: clear the progress line first). check: null when the host speed is not checked.
void run_timed(Benchmark& b, const RunOptions& opts, BenchmarkRecord& rec, bool warn, bool tty,
               SpeedCheck* check) {
  SampleCollector collector;
  auto body = std::move(b.timed);
  // One Google Benchmark run of `reps` repetitions; every run's repetitions land in `collector`.
  // With a speed check, each call of the body (Google Benchmark calls it again while it sizes the
  // iteration count; the reported call is the last) is bracketed by probes outside the timed loop.
  auto run_batch = [&](int reps) {
    auto* reg = benchmark::RegisterBenchmark(rec.name.c_str(), [&body, check](benchmark::State& st) {
      const double before = check ? check->speed() : 0;
      body(st);
      if (check) st.counters["host_speed"] = std::min(before, check->speed());
    });
    reg->Repetitions(std::max(1, reps))->MinTime(opts.min_time);
    if (b.manual_time) reg->UseManualTime();
    else reg->UseRealTime();
    try {
      benchmark::RunSpecifiedBenchmarks(&collector);
    } catch (...) {
      benchmark::ClearRegisteredBenchmarks();
      throw;
    }
    benchmark::ClearRegisteredBenchmarks();
  };
  const auto t0 = std::chrono::steady_clock::now();
  run_batch(opts.repetitions);
  if (!collector.error.empty() && collector.samples.empty()) {
    rec.skipped = collector.error;  // SkipWithError: e.g. "no CUDA device"
    return;
  }
  // With a speed check: the repetitions split by host speed, those at or above the threshold kept.
  // (A reference into the map stays valid while the collector adds repetitions.)
  const std::vector<double>* speeds = check ? &collector.counters["host_speed"] : nullptr;
  struct Split {
    std::vector<double> kept, kept_speed, set_aside, set_aside_speed;
  };
  auto split = [&] {
    Split out;
    for (size_t i = 0; i < collector.samples.size(); ++i) {
      const double v = speeds && i < speeds->size() ? (*speeds)[i] : 0;
      const bool slow = speeds && i < speeds->size() && v < check->threshold;
      (slow ? out.set_aside : out.kept).push_back(collector.samples[i]);
      (slow ? out.set_aside_speed : out.kept_speed).push_back(v);
    }
    return out;
  };
  // The samples the statistics use: the unthrottled ones, or all when none is.
  auto usable = [&] {
    Split sp = split();
    return sp.kept.empty() ? collector.samples : sp.kept;
  };
  if (check) {
    // Retake throttled repetitions, after a pause for the host to recover, at most `repetitions`
    // more in all: a host that stays slow costs at most twice the time, and is flagged.
    const int reps = std::max(1, opts.repetitions);
    for (int extra = 0; extra < reps;) {
      const int kept = int(split().kept.size());
      if (kept >= reps) break;
      if (check->recovery > 0) std::this_thread::sleep_for(std::chrono::duration<double>(check->recovery));
      const int n = std::min(reps - kept, reps - extra);
      run_batch(n);
      extra += n;
    }
  }
  if (opts.max_noise > 0) {
    // Noise-based stopping: more repetitions, a batch at a time, until the median's interval is
    // narrow enough (which needs at least 6 samples for 95%) or the time budget is spent.
    constexpr size_t kMaxSamples = 10000;
    const int batch = std::max(opts.repetitions, 5);
    Stats s = compute_stats(usable());
    auto converged = [&] { return has_median_ci(s) && s.noise <= opts.max_noise; };
    while (!converged() && collector.samples.size() < kMaxSamples &&
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < opts.max_time) {
      run_batch(batch);
      s = compute_stats(usable());
    }
    rec.counters["max_noise"] = opts.max_noise;
    rec.counters["noise_converged"] = converged() ? 1 : 0;
    if (!converged() && warn) {
      std::fprintf(stderr, "%s%s: noise %.1f%% still above --max-noise %.1f%% after %zu repetitions (--max-time %gs)\n",
                   tty ? "\r\033[K" : "", rec.name.c_str(), 100 * s.noise, 100 * opts.max_noise, collector.samples.size(),
                   opts.max_time);
    }
  }
  rec.counters["iterations"] = median_of(collector.iterations);
  for (auto& [name, values] : collector.counters)
    if (name != "host_speed") rec.counters[name] = median_of(values);
  if (!check) {
    rec.samples = collector.samples;
    return;
  }
  auto [kept, kept_speed, set_aside, set_aside_speed] = split();
  rec.counters["throttled_repetitions"] = double(set_aside.size());
  if (!set_aside.empty()) ++check->retaken;
  if (!kept.empty()) {
    rec.samples = std::move(kept);
    rec.counters["host_speed"] = median_of(kept_speed);
    rec.counters["throttled"] = 0;
    if (!set_aside.empty() && (rec.data.is_null() || rec.data.is_object())) {
      rec.data["throttled_samples"] = set_aside;
      rec.data["throttled_host_speed"] = set_aside_speed;
    }
    return;
  }
  // Throttled throughout: those are the only measurements there are; flagged, never silent.
  rec.samples = std::move(set_aside);
  rec.counters["host_speed"] = median_of(set_aside_speed);
  rec.counters["throttled"] = 1;
  ++check->flagged;
  if (warn) {
    std::fprintf(stderr, "%s%s: every repetition ran throttled (host speed %.2f of its best, "
                 "threshold %.2f); recorded with counters.throttled = 1\n",
                 tty ? "\r\033[K" : "", (rec.name + (rec.params.empty() ? "" : " " + rec.params.dump())).c_str(),
                 rec.counters["host_speed"].get<double>(), check->threshold);
  }
}

}  // namespace

std::string resolve_device(const std::string& requested, bool cuda_available) {
  if (requested == "cpu" || requested == "cuda") return requested;
  if (requested == "auto") return cuda_available ? "cuda" : "cpu";
  throw UsageError("--device: expected cpu, cuda or auto, got '" + requested + "'");
}

void apply_plan_file(const fs::path& plan, RunOptions& opts) {
  json j = read_json_file(plan);
  const std::string src = plan.string();
  auto fail = [&](const std::string& field, const std::string& what) {
    throw UsageError(src + ": field '" + field + "': " + what);
  };
  if (!j.is_object()) fail("(document)", "expected a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    static const std::set<std::string> known = {"description", "repetitions", "min_time",
                                                "max_noise", "max_time", "throttle_threshold",
                                                "throttle_recovery", "quick", "device", "suites", "seed"};
    if (!known.count(it.key())) fail(it.key(), "unknown field");
  }
  if (j.contains("repetitions")) {
    if (!j["repetitions"].is_number_integer() || j["repetitions"].get<int>() < 1) {
      fail("repetitions", "expected a positive integer");
    }
    opts.repetitions = j["repetitions"].get<int>();
  }
  if (j.contains("min_time")) {
    if (!j["min_time"].is_number() || j["min_time"].get<double>() <= 0) {
      fail("min_time", "expected a positive number of seconds");
    }
    opts.min_time = j["min_time"].get<double>();
  }
  if (j.contains("max_noise")) {
    const json& v = j["max_noise"];
    if (!v.is_number() || !(v.get<double>() > 0 && v.get<double>() < 1)) {
      fail("max_noise", "expected a fraction between 0 and 1 (0.02 for 2%)");
    }
    opts.max_noise = v.get<double>();
  }
  if (j.contains("max_time")) {
    if (!j["max_time"].is_number() || !(j["max_time"].get<double>() > 0)) {
      fail("max_time", "expected a positive number of seconds");
    }
    opts.max_time = j["max_time"].get<double>();
  }
  if (j.contains("throttle_threshold")) {
    const json& v = j["throttle_threshold"];
    if (!v.is_number() || !(v.get<double>() >= 0 && v.get<double>() < 1)) {
      fail("throttle_threshold", "expected a fraction of the FMA peak from 0 (off) to below 1 (0.75 for 75%)");
    }
    opts.throttle_threshold = v.get<double>();
  }
  if (j.contains("throttle_recovery")) {
    const json& v = j["throttle_recovery"];
    if (!v.is_number() || !(v.get<double>() >= 0 && v.get<double>() <= 60)) {
      fail("throttle_recovery", "expected seconds from 0 to 60");
    }
    opts.throttle_recovery = v.get<double>();
  }
  if (j.contains("quick")) {
    if (!j["quick"].is_boolean()) fail("quick", "expected true or false");
    opts.quick = j["quick"].get<bool>();
  }
  if (j.contains("seed")) {
    if (!j["seed"].is_number_unsigned()) fail("seed", "expected a non-negative integer");
    opts.seed = j["seed"].get<uint64_t>();
  }
  if (j.contains("device")) {
    if (!j["device"].is_string()) fail("device", "expected cpu, cuda or auto");
    opts.device = j["device"].get<std::string>();
  }
  if (!j.contains("suites")) fail("suites", "missing (required)");
  if (!j["suites"].is_array() || j["suites"].empty()) fail("suites", "expected a non-empty array");
  opts.suites.clear();
  for (size_t i = 0; i < j["suites"].size(); ++i) {
    const json& s = j["suites"][i];
    std::string f = "suites[" + std::to_string(i) + "]";
    if (!s.is_object()) fail(f, "expected an object");
    if (!s.contains("suite") || !s["suite"].is_string()) fail(f + ".suite", "expected a suite name");
    SuitePlan p;
    p.suite = s["suite"].get<std::string>();
    if (s.contains("model")) {
      if (!s["model"].is_string()) fail(f + ".model", "expected a model name or config path");
      p.model = s["model"].get<std::string>();
    }
    if (s.contains("options")) {
      if (!s["options"].is_object()) fail(f + ".options", "expected an object");
      p.options = s["options"];
    }
    opts.suites.push_back(p);
  }
}

RunOutcome run_plan(const RunOptions& opts) {
  RunOutcome outcome;
  RunRecord& run = outcome.record;
  run.run_id = make_run_id();
  run.started_at = utc_now_iso8601();
  run.command = opts.command;

  // Validate everything a user typed before spending minutes measuring.
  if (opts.suites.empty()) throw UsageError("--suite: no suite selected");
  std::vector<ModelConfig> models;
  for (const auto& sp : opts.suites) {
    if (!find_suite(sp.suite)) {
      std::string known;
      for (const auto& s : registered_suites()) known += (known.empty() ? "" : ", ") + s.name;
      throw UsageError("--suite: unknown suite '" + sp.suite + "' (known: " + known + ")");
    }
    models.push_back(load_model(sp.model));
  }
  std::optional<std::regex> filter;
  if (!opts.filter.empty()) {
    try {
      filter.emplace(opts.filter, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw UsageError("--filter: invalid regular expression '" + opts.filter + "': " + e.what());
    }
  }
  // "cuda" without a usable device is not an error: CUDA benchmarks are recorded as skipped with
  // the reason and CPU parts still run.
  const std::string device = resolve_device(opts.device, opts.cuda_available);

  bool show_progress = !opts.quiet && isatty(fileno(stderr));
  if (show_progress) std::fprintf(stderr, "measuring host peaks...\n");
  run.host = host_with_peaks(opts.measure_peaks, opts.quick);
  run.host["cuda"]["device_available"] = opts.cuda_available;
  if (!opts.cuda_available) run.host["cuda"]["reason"] = opts.cuda_reason;

  SpeedCheck check;
  check.probe = opts.speed_probe ? opts.speed_probe : std::function<SpeedReading()>(probe_speed);
  check.peak = peak_gflops(run.host, "cpu");
  check.threshold = opts.throttle_threshold;
  check.recovery = opts.throttle_recovery;
  if (check.on())
    for (int i = 0; i < 20; ++i) check.read();  // the bests start from more than one moment

  if (!opts.trace.empty()) trace::start();
  PartialLog partial(opts.out);

  // Build every suite's benchmarks first so progress knows the total.
  struct Pending {
    size_t suite_index;
    Benchmark bench;
  };
  std::vector<Pending> pending;
  for (size_t i = 0; i < opts.suites.size(); ++i) {
    const auto& sp = opts.suites[i];
    SuiteContext ctx{models[i], device, opts.cuda_available, opts.cuda_reason, opts.quick,
                     opts.seed, run.host, sp.options};
    std::vector<Benchmark> benches = find_suite(sp.suite)->make(ctx);
    SuiteRecord sr;
    sr.name = sp.suite;
    sr.model = models[i].name;
    sr.device = device;
    run.suites.push_back(sr);
    for (auto& b : benches) {
      if (filter && !std::regex_search(benchmark_key(sp.suite, b.name, b.params), *filter)) continue;
      pending.push_back({i, std::move(b)});
    }
  }

  // Records whose roofline_fraction the runner computed against the CPU's FMA peak (recomputed if
  // the probes show a higher peak).
  struct CpuRoofline {
    size_t suite, index;
    double bytes, flops;
  };
  std::vector<CpuRoofline> cpu_roofline;
  // After a peak in run.host was raised: the runner-computed CPU fractions against the peaks now.
  auto redo_cpu_fractions = [&] {
    for (const CpuRoofline& r : cpu_roofline) {
      BenchmarkRecord& rec = run.suites[r.suite].benchmarks[r.index];
      rec.counters["roofline_fraction"] = roofline_fraction(rec.stats.median, r.bytes, r.flops,
                                                            peak_bandwidth_gbps(run.host, "cpu"),
                                                            peak_gflops(run.host, "cpu"));
    }
  };

  // Read-bandwidth readings between CPU benchmarks with a roofline fraction (see
  // RunOptions::read_probe_interval_s): this project's VMs read anywhere from 22 to 35 GB/s within
  // minutes, so two readings (start and end) can both miss the rate the benchmarks in between
  // reached.
  const auto read_probe = [&] {
    return opts.read_probe ? opts.read_probe() : measure_read_bandwidth(opts.quick);
  };
  const bool read_probes_on =
      opts.measure_peaks && opts.read_probe_interval_s >= 0 && peak_bandwidth_gbps(run.host, "cpu") > 0;
  std::vector<double> read_during;
  auto last_read = std::chrono::steady_clock::now();

  Progress progress(show_progress, pending.size());
  for (size_t k = 0; k < pending.size(); ++k) {
    auto& [si, b] = pending[k];
    const std::string& suite = run.suites[si].name;
    BenchmarkRecord rec;
    rec.name = b.name;
    rec.params = b.params;
    rec.unit = b.unit;
    rec.direction = b.direction;
    rec.counters = b.counters.is_object() ? b.counters : json::object();
    rec.data = b.data;
    progress.begin(k, suite + "/" + b.name + (b.params.empty() ? "" : " " + b.params.dump()));
    const std::string bench_device = b.device.empty() ? device : b.device;
    try {
      trace::Scope scope(suite + "/" + b.name, "benchmark");
      if (!b.skipped.empty()) {
        rec.skipped = b.skipped;
      } else if (b.timed) {
        // CUDA kernels time on the device: the CPU's speed says nothing about them.
        run_timed(b, opts, rec, !opts.quiet, show_progress,
                  bench_device == "cpu" && check.on() ? &check : nullptr);
      } else if (b.measure || b.derive) {
        // A measurement times itself (its own loop, often many steps): probed before and after and
        // flagged when the host was throttled, not retaken.
        const bool probe = b.measure && bench_device == "cpu" && check.on();
        const double before = probe ? check.speed() : 0;
        Measurement m = b.measure ? b.measure() : b.derive(run.suites[si].benchmarks);
        rec.samples = std::move(m.samples);
        for (auto& [key, value] : m.counters.items()) rec.counters[key] = value;
        if (probe) {
          const double speed = std::min(before, check.speed());
          const bool slow = speed < check.threshold;
          rec.counters["host_speed"] = speed;
          rec.counters["throttled"] = slow ? 1 : 0;
          check.flagged += slow ? 1 : 0;
        }
        if (!m.data.is_null()) rec.data = std::move(m.data);
        if (!m.skipped.empty()) rec.skipped = m.skipped;
        else if (rec.samples.empty()) rec.skipped = "measurement produced no samples";
      } else {
        throw Error("benchmark has no timed body, measurement or derivation");
      }
    } catch (const std::exception& e) {
      rec.samples.clear();
      rec.skipped = std::string("failed: ") + e.what();
      ++outcome.failures;
    }
    if (rec.skipped) {
      rec.samples.clear();
      if (rec.skipped->rfind("failed: ", 0) != 0) ++outcome.skipped;
    } else {
      ++outcome.measured;
    }
    rec.stats = compute_stats(rec.samples);
    if (!rec.skipped) {
      const bool own = rec.counters.contains("roofline_fraction");  // the benchmark's own wins
      add_roofline_counters(rec, b.bytes, b.flops, run.host, bench_device);
      if (!own && bench_device == "cpu" && (b.bytes > 0 || b.flops > 0) && rec.counters.contains("roofline_fraction"))
        cpu_roofline.push_back({si, run.suites[si].benchmarks.size(), b.bytes, b.flops});
    }
    if (bench_device != device) rec.params["device"] = bench_device;
    const bool has_fraction =
        !rec.skipped && bench_device == "cpu" && rec.counters.contains("roofline_fraction");
    partial.append(suite, rec);
    run.suites[si].benchmarks.push_back(std::move(rec));
    b = Benchmark{};  // free the benchmark's captured buffers before the next one
    if (read_probes_on && has_fraction && k + 1 < pending.size() &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - last_read).count() >=
            opts.read_probe_interval_s) {
      read_during.push_back(read_probe());
      last_read = std::chrono::steady_clock::now();
    }
  }
  progress.end();

  if (check.probes > 0) {
    run.host["speed_probe"] = {{"threshold", check.threshold},
                               {"probes", check.probes},
                               {"min_gflops", check.min_gflops},
                               {"max_gflops", check.max_gflops},
                               {"min_cache_gflops", check.min_cache_gflops},
                               {"max_cache_gflops", check.max_cache_gflops},
                               {"retaken_benchmarks", check.retaken},
                               {"throttled_benchmarks", check.flagged}};
    if (!opts.quiet && check.flagged > 0) {
      std::fprintf(stderr, "%d benchmark(s) ran while the host was below %.0f%% of its best speed "
                   "(counters.throttled = 1); %d had throttled repetitions set aside and retaken\n",
                   check.flagged, 100 * check.threshold, check.retaken);
    }
    if (check.max_gflops > check.peak) {
      // The start-of-run peak was taken while the host was slower than it later ran: the best
      // rate seen becomes the peak, and the fractions computed against the lower one are redone,
      // so that a slow start never inflates them.
      run.host["peak"]["fma_gflops_at_start"] = check.peak;
      run.host["peak"]["fma_gflops"] = check.max_gflops;
      redo_cpu_fractions();
      if (!opts.quiet && check.max_gflops > 1.1 * check.peak) {
        std::fprintf(stderr, "the host's FMA rate reached %.0f GFLOP/s during the run, above the %.0f measured at its "
                     "start: roofline fractions use %.0f\n", check.max_gflops, check.peak, check.max_gflops);
      }
    }
  }

  // The read peak, like the FMA peak, is the best the host showed: measured again between
  // benchmarks and after the last one. A start in a slow moment (this project's VMs read 13-19
  // GB/s from run to run on one host type) would otherwise inflate every memory-bound fraction.
  // Fractions a benchmark computed itself against the read peak name it in
  // counters.peak_read_gbps and are rescaled.
  const double start_bw = peak_bandwidth_gbps(run.host, "cpu");
  bool own_read_fraction = false;
  for (const auto& s : run.suites)
    for (const auto& r : s.benchmarks)
      own_read_fraction = own_read_fraction || (!r.skipped && r.counters.contains("peak_read_gbps"));
  if (opts.measure_peaks && start_bw > 0 && (!cpu_roofline.empty() || own_read_fraction)) {
    const double end_bw = read_probe();
    run.host["peak"]["read_gbps_at_end"] = end_bw;
    double best_bw = end_bw;
    if (!read_during.empty()) {
      run.host["peak"]["read_gbps_during"] = read_during;
      best_bw = std::max(best_bw, *std::max_element(read_during.begin(), read_during.end()));
    }
    if (best_bw > start_bw) {
      run.host["peak"]["read_gbps_at_start"] = start_bw;
      run.host["peak"]["read_gbps"] = best_bw;
      redo_cpu_fractions();
      for (auto& s : run.suites)
        for (auto& rec : s.benchmarks) {
          if (rec.skipped || !rec.counters.contains("peak_read_gbps") || !rec.counters.contains("roofline_fraction"))
            continue;
          const double used = rec.counters["peak_read_gbps"].get<double>();
          if (used <= 0 || used >= best_bw) continue;
          rec.counters["roofline_fraction"] = rec.counters["roofline_fraction"].get<double>() * used / best_bw;
          rec.counters["peak_read_gbps"] = best_bw;
        }
      if (!opts.quiet && best_bw > 1.1 * start_bw) {
        std::fprintf(stderr, "the host read %.1f GB/s %s, above the %.1f measured at the start: roofline fractions "
                     "use %.1f\n", best_bw, best_bw > end_bw ? "between benchmarks" : "after the last benchmark",
                     start_bw, best_bw);
      }
    }
  }

  if (!opts.trace.empty()) run.traces.push_back(trace::stop_and_write(opts.trace));
  run.finished_at = utc_now_iso8601();
  write_json_atomic(opts.out, run.to_json());
  partial.finish();
  return outcome;
}

}  // namespace dsbench
