// `dsbench history DIR -o trend.html`: per-benchmark trends over result files, change points marked.
#include <iostream>

#include "dsbench/error.h"
#include "dsbench/reports/compare.h"
#include "dsbench/reports/history.h"
#include "subcommand.h"

namespace dsbench::cli {
namespace {
namespace po = boost::program_options;

int history(const std::vector<std::string>& args) {
  po::options_description desc("options");
  desc.add_options()
    ("dir", po::value<std::string>(), "folder of result files, e.g. results/nightly (or positional)")
    ("output,o", po::value<std::string>()->default_value("trend.html"), "HTML file to write")
    ("min-step", po::value<std::string>()->default_value("2%"),
     "smallest level change reported as a change point")
    ("json", po::value<std::string>(), "also write the series and change points as JSON here");
  po::positional_options_description pos;
  pos.add("dir", 1);
  po::variables_map vm;
  if (!parse_options("dsbench history DIR -o trend.html", desc, args, vm, &pos)) return kExitOk;
  if (!vm.count("dir")) throw UsageError("expected a folder: dsbench history results/nightly");
  double min_step = reports::parse_fraction(vm["min-step"].as<std::string>(), "--min-step");
  auto h = reports::load_history(vm["dir"].as<std::string>(), min_step);
  for (const auto& w : h.warnings) std::cerr << "warning: " << w << "\n";
  const std::string out = vm["output"].as<std::string>();
  write_text_atomic(out, reports::render_history(h));
  if (vm.count("json")) write_json_atomic(vm["json"].as<std::string>(), h.to_json(), 1);
  size_t changes = 0;
  for (const auto& s : h.series) changes += s.changes.size();
  std::cerr << "wrote " << out << ": " << h.runs.size() << " runs, " << h.series.size()
            << " series, " << changes << " change points\n";
  return kExitOk;
}

}  // namespace

DSBENCH_REGISTER_SUBCOMMAND({"history", "trend page over many result files, change points marked",
                             history});

}  // namespace dsbench::cli
