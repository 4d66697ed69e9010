// `dsbench report RUN.json [--baseline BASE.json] -o report.html`: a self-contained HTML report.
#include <iostream>

#include "dsbench/error.h"
#include "dsbench/reports/load.h"
#include "dsbench/reports/report.h"
#include "subcommand.h"

namespace dsbench::cli {
namespace {
namespace po = boost::program_options;

int report(const std::vector<std::string>& args) {
  po::options_description desc("options");
  desc.add_options()
    ("run", po::value<std::string>(), "result file to report (or the positional)")
    ("baseline,b", po::value<std::string>(), "result file to compare against (deltas, verdicts)")
    ("output,o", po::value<std::string>()->default_value("report.html"), "HTML file to write")
    ("threshold", po::value<std::string>()->default_value("5%"), "compare threshold")
    ("alpha", po::value<std::string>()->default_value("0.01"), "compare significance level")
    ("overrides", po::value<std::string>(), "per-benchmark compare settings (see compare)")
    ("normalize", po::value<std::string>(), "roofline: compare roofline_fraction");
  po::positional_options_description pos;
  pos.add("run", 1);
  po::variables_map vm;
  if (!parse_options("dsbench report RUN.json [--baseline BASE.json] -o report.html", desc, args,
                     vm, &pos)) {
    return kExitOk;
  }
  if (!vm.count("run")) throw UsageError("expected a result file: dsbench report RUN.json");
  reports::ReportInput in;
  in.run_source = vm["run"].as<std::string>();
  in.run = reports::load_run(in.run_source);
  in.compare.threshold = reports::parse_fraction(vm["threshold"].as<std::string>(), "--threshold");
  in.compare.alpha = reports::parse_fraction(vm["alpha"].as<std::string>(), "--alpha");
  if (vm.count("overrides")) {
    in.compare.overrides = reports::load_overrides(vm["overrides"].as<std::string>());
  }
  if (vm.count("normalize")) {
    if (vm["normalize"].as<std::string>() != "roofline") {
      throw UsageError("--normalize: the only normalisation is 'roofline'");
    }
    in.compare.normalize_roofline = true;
  }
  if (vm.count("baseline")) {
    in.baseline_source = vm["baseline"].as<std::string>();
    in.baseline = reports::load_run(in.baseline_source);
  }
  const std::string out = vm["output"].as<std::string>();
  write_text_atomic(out, reports::render_report(in));
  std::cerr << "wrote " << out << "\n";
  return kExitOk;
}

}  // namespace

DSBENCH_REGISTER_SUBCOMMAND({"report", "render a result file (and a baseline) as one HTML page",
                             report});

}  // namespace dsbench::cli
