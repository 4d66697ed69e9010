// `dsbench run`: runs suites (or a plan file) and writes one result JSON.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "dsbench/config.h"
#include "dsbench/error.h"
#include "dsbench/kernels/cuda_device.h"
#include "dsbench/reports/compare.h"
#include "dsbench/registry.h"
#include "dsbench/runner.h"
#include "subcommand.h"

namespace dsbench::cli {
namespace {
namespace po = boost::program_options;
namespace fs = std::filesystem;

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// A plan given by name or relative path is looked up in the working directory first, then in the
// source tree, so `--plan suites/plans/nightly.json` works from anywhere.
fs::path find_plan(const std::string& plan) {
  fs::path p(plan);
  if (fs::exists(p)) return p;
  fs::path in_src = fs::path(DSBENCH_SOURCE_DIR) / p;
  if (fs::exists(in_src)) return in_src;
  fs::path by_name = fs::path(DSBENCH_SOURCE_DIR) / "suites" / "plans" / (plan + ".json");
  if (fs::exists(by_name)) return by_name;
  throw UsageError("--plan: no such plan file '" + plan + "'");
}

int run(const std::vector<std::string>& args) {
  po::options_description desc("options");
  desc.add_options()
    ("suite,s", po::value<std::string>(), "comma-separated suites (default: the default plan; "
                                          "with --quick and no plan: every suite)")
    ("model,m", po::value<std::string>(), "model name from configs/models or path to a config.json "
                                          "(default dsv3-tiny)")
    ("plan", po::value<std::string>(), "plan file (suites/plans/*.json) or plan name")
    ("out,o", po::value<std::string>()->default_value("results/latest.json"), "result file")
    ("filter", po::value<std::string>(), "regex over suite/name{params}")
    ("repetitions", po::value<int>(), "repetitions per timed benchmark (raw samples kept)")
    ("min-time", po::value<double>(), "minimum seconds per repetition")
    ("max-noise", po::value<std::string>(),
     "keep adding repetitions to each timed benchmark until the median's 95% interval is "
     "within this fraction of it (2% or 0.02; default off)")
    ("max-time", po::value<double>(), "most seconds one benchmark may run to reach --max-noise "
                                      "(default 20)")
    ("throttle-threshold", po::value<std::string>(),
     "a CPU repetition during which the host's speed (a register FMA loop and an L2-fed one, each "
     "against its best rate) fell below this fraction is set aside and retaken (75% or 0.75, the "
     "default; 0 turns the check off)")
    ("throttle-recovery", po::value<double>(), "seconds to wait before retaking throttled repetitions "
                                               "(default 0.05)")
    ("device", po::value<std::string>()->default_value("auto"), "cpu | cuda | auto")
    ("trace", po::value<std::string>(), "write a Chrome/Perfetto trace to this file")
    ("quick", "short plan of each suite: seconds, for tests and CI")
    ("seed", po::value<uint64_t>(), "seed for every random input")
    ("no-peaks", "do not measure host peaks (no roofline_fraction)")
    ("quiet,q", "no progress on stderr");
  po::variables_map vm;
  if (!parse_options("dsbench run [options]", desc, args, vm)) return kExitOk;

  RunOptions opts;
  opts.quick = vm.count("quick") > 0;
  if (opts.quick) {
    opts.repetitions = 3;
    opts.min_time = 0.01;
  }
  if (vm.count("plan")) {
    apply_plan_file(find_plan(vm["plan"].as<std::string>()), opts);
    if (vm.count("quick")) opts.quick = true;
  }
  if (vm.count("suite")) {
    auto names = split_commas(vm["suite"].as<std::string>());
    if (names.empty()) throw UsageError("--suite: empty list");
    opts.suites.clear();
    for (const auto& n : names) opts.suites.push_back({n, "dsv3-tiny", {}});
  }
  if (opts.suites.empty()) {
    if (opts.quick) {
      for (const auto& s : registered_suites()) opts.suites.push_back({s.name, "dsv3-tiny", {}});
    } else {
      apply_plan_file(find_plan("default"), opts);
    }
  }
  if (vm.count("model")) {
    for (auto& s : opts.suites) s.model = vm["model"].as<std::string>();
  }
  if (vm.count("repetitions")) {
    opts.repetitions = vm["repetitions"].as<int>();
    if (opts.repetitions < 1) throw UsageError("--repetitions: must be at least 1");
  }
  if (vm.count("min-time")) {
    opts.min_time = vm["min-time"].as<double>();
    if (!(opts.min_time > 0)) throw UsageError("--min-time: must be a positive number of seconds");
  }
  if (vm.count("max-noise")) {
    opts.max_noise = reports::parse_fraction(vm["max-noise"].as<std::string>(), "--max-noise");
    if (!(opts.max_noise > 0 && opts.max_noise < 1)) {
      throw UsageError("--max-noise: expected a fraction between 0 and 1, such as 2% or 0.02");
    }
  }
  if (vm.count("max-time")) {
    opts.max_time = vm["max-time"].as<double>();
    if (!(opts.max_time > 0)) throw UsageError("--max-time: must be a positive number of seconds");
  }
  if (vm.count("throttle-threshold")) {
    const std::string t = vm["throttle-threshold"].as<std::string>();
    opts.throttle_threshold = reports::parse_fraction(t, "--throttle-threshold");
    if (!(opts.throttle_threshold >= 0 && opts.throttle_threshold < 1)) {
      throw UsageError("--throttle-threshold: expected a fraction from 0 (off) to below 1, such as 75% or 0.75");
    }
  }
  if (vm.count("throttle-recovery")) {
    opts.throttle_recovery = vm["throttle-recovery"].as<double>();
    if (!(opts.throttle_recovery >= 0 && opts.throttle_recovery <= 60)) {
      throw UsageError("--throttle-recovery: expected seconds from 0 to 60");
    }
  }
  if (vm.count("filter")) opts.filter = vm["filter"].as<std::string>();
  if (!vm["device"].defaulted()) opts.device = vm["device"].as<std::string>();  // else the plan's
  if (vm.count("trace")) opts.trace = vm["trace"].as<std::string>();
  if (vm.count("seed")) opts.seed = vm["seed"].as<uint64_t>();
  opts.quiet = vm.count("quiet") > 0;
  opts.measure_peaks = vm.count("no-peaks") == 0;
  opts.out = vm["out"].as<std::string>();
  opts.cuda_available = kernels::cuda_device_available(&opts.cuda_reason);
  if (opts.device == "cuda" && !kernels::cuda_built()) {
    throw UsageError("--device cuda: this build has no CUDA backend (configure with nvcc present)");
  }
  opts.command = "dsbench run";
  for (const auto& a : args) opts.command += " " + a;

  RunOutcome outcome = run_plan(opts);
  std::printf("wrote %s: %d measured, %d skipped, %d failed\n", opts.out.c_str(), outcome.measured,
              outcome.skipped, outcome.failures);
  if (outcome.failures > 0) {
    std::fprintf(stderr, "dsbench run: %d benchmark(s) failed; see \"skipped\" in %s\n",
                 outcome.failures, opts.out.c_str());
    return kExitRuntime;
  }
  return kExitOk;
}

}  // namespace

DSBENCH_REGISTER_SUBCOMMAND({"run", "run suites or a plan and write a result JSON", run});

}  // namespace dsbench::cli
