// `dsbench list`: suites, their benchmarks and parameters, and the known models.
#include <iostream>

#include "dsbench/config.h"
#include "dsbench/error.h"
#include "dsbench/host.h"
#include "dsbench/registry.h"
#include "subcommand.h"

namespace dsbench::cli {
namespace {
namespace po = boost::program_options;
using nlohmann::json;

int list(const std::vector<std::string>& args) {
  po::options_description desc("options");
  desc.add_options()
    ("suite,s", po::value<std::string>(), "only this suite")
    ("model,m", po::value<std::string>()->default_value("dsv3-tiny"), "model the suites are built for")
    ("quick", "list the quick plan's benchmarks")
    ("json", "print JSON");
  po::variables_map vm;
  if (!parse_options("dsbench list [options]", desc, args, vm)) return kExitOk;

  std::string only = vm.count("suite") ? vm["suite"].as<std::string>() : "";
  if (!only.empty() && !find_suite(only)) throw UsageError("--suite: unknown suite '" + only + "'");
  ModelConfig model = load_model(vm["model"].as<std::string>());
  json host = host_fingerprint();
  json out = {{"suites", json::array()}, {"models", list_models()}};
  for (const auto& s : registered_suites()) {
    if (!only.empty() && s.name != only) continue;
    SuiteContext ctx{model, "cpu", false, "listing only", vm.count("quick") > 0, 1234, host, {}};
    json benches = json::array();
    std::string error;
    try {
      for (const auto& b : s.make(ctx)) {
        benches.push_back({{"name", b.name}, {"params", b.params}, {"unit", b.unit},
                           {"kind", b.timed ? "timed" : b.derive ? "derived" : "measured"}});
      }
    } catch (const std::exception& e) {
      error = e.what();  // e.g. a suite that needs an MoE model listed against a dense one
    }
    json entry = {{"name", s.name}, {"description", s.description}, {"benchmarks", benches}};
    if (!error.empty()) entry["error"] = error;
    out["suites"].push_back(entry);
  }
  if (vm.count("json")) {
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  for (const auto& s : out["suites"]) {
    std::cout << s["name"].get<std::string>() << ": " << s["description"].get<std::string>()
              << " (" << s["benchmarks"].size() << " benchmarks for " << model.name << ")\n";
    if (s.contains("error")) std::cout << "    (" << s["error"].get<std::string>() << ")\n";
    for (const auto& b : s["benchmarks"]) {
      std::cout << "    " << b["name"].get<std::string>() << " " << b["params"].dump() << "\n";
    }
  }
  std::cout << "models:";
  for (const auto& m : out["models"]) std::cout << " " << m.get<std::string>();
  std::cout << "\n";
  return kExitOk;
}

}  // namespace

DSBENCH_REGISTER_SUBCOMMAND({"list", "list suites, benchmarks, parameters and models", list});

}  // namespace dsbench::cli
