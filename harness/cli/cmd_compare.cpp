// `dsbench compare BASE.json CAND.json`: per-benchmark verdicts and the regression gate
// (exit 1 when a gated benchmark regressed, 2 on bad input).
#include <iostream>

#include "dsbench/error.h"
#include "dsbench/reports/compare.h"
#include "dsbench/reports/load.h"
#include "subcommand.h"

namespace dsbench::cli {
namespace {
namespace po = boost::program_options;

int compare(const std::vector<std::string>& args) {
  po::options_description desc("options");
  desc.add_options()
    ("baseline", po::value<std::string>(), "baseline result file (or the first positional)")
    ("candidate", po::value<std::string>(), "candidate result file (or the second positional)")
    ("threshold", po::value<std::string>()->default_value("5%"),
     "relative median change that matters (5% or 0.05)")
    ("alpha", po::value<std::string>()->default_value("0.01"),
     "significance level of the Mann-Whitney U test")
    ("overrides", po::value<std::string>(),
     "JSON file of per-benchmark settings: [{\"match\": GLOB, \"threshold\", \"alpha\", \"gate\"}]")
    ("normalize", po::value<std::string>(),
     "roofline: compare roofline_fraction (for runs on different hardware)")
    ("strict", "a gated benchmark missing from, or skipped in, the candidate fails the gate")
    ("format", po::value<std::string>()->default_value("text"), "text | md | json")
    ("output,o", po::value<std::string>(), "write the report here instead of stdout");
  po::positional_options_description pos;
  pos.add("baseline", 1).add("candidate", 1);
  po::variables_map vm;
  if (!parse_options("dsbench compare BASE.json CAND.json [options]", desc, args, vm, &pos)) {
    std::cout << "\nexit: 0 no gated regression, 1 a gated benchmark regressed, 2 bad input\n";
    return kExitOk;
  }
  if (!vm.count("baseline") || !vm.count("candidate")) {
    throw UsageError("expected two result files: BASE.json CAND.json");
  }
  reports::CompareOptions opts;
  opts.threshold = reports::parse_fraction(vm["threshold"].as<std::string>(), "--threshold");
  opts.alpha = reports::parse_fraction(vm["alpha"].as<std::string>(), "--alpha");
  if (opts.alpha <= 0 || opts.alpha >= 1) throw UsageError("--alpha: expected a value in (0, 1)");
  opts.strict = vm.count("strict") > 0;
  if (vm.count("normalize")) {
    if (vm["normalize"].as<std::string>() != "roofline") {
      throw UsageError("--normalize: the only normalisation is 'roofline'");
    }
    opts.normalize_roofline = true;
  }
  if (vm.count("overrides")) opts.overrides = reports::load_overrides(vm["overrides"].as<std::string>());
  const std::string format = vm["format"].as<std::string>();
  if (format != "text" && format != "md" && format != "json") {
    throw UsageError("--format: expected text, md or json, got '" + format + "'");
  }

  const std::string base_path = vm["baseline"].as<std::string>();
  const std::string cand_path = vm["candidate"].as<std::string>();
  auto base = reports::load_run(base_path);
  auto cand = reports::load_run(cand_path);
  auto cmp = reports::compare_runs(base, cand, opts, base_path, cand_path);

  std::string out;
  if (format == "json") out = cmp.to_json().dump(2) + "\n";
  else if (format == "md") out = reports::format_markdown(cmp);
  else out = reports::format_text(cmp);
  if (vm.count("output")) write_text_atomic(vm["output"].as<std::string>(), out);
  else std::cout << out;
  if (format != "text") {
    for (const auto& w : cmp.warning_lines()) std::cerr << "warning: " << w << "\n";
  }
  return cmp.gate_failed() ? kExitGateFailed : kExitOk;
}

}  // namespace

DSBENCH_REGISTER_SUBCOMMAND({"compare", "compare two result files; exit 1 on a gated regression",
                             compare});

}  // namespace dsbench::cli
