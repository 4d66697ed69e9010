// Shared pieces of the command line: the subcommand list and option parsing with clear errors.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "dsbench/error.h"
#include "subcommand.h"

namespace dsbench::cli {
namespace po = boost::program_options;

namespace {
std::vector<Subcommand>& list() {
  static std::vector<Subcommand> l;
  return l;
}
}  // namespace

void register_subcommand(Subcommand cmd) {
  auto& l = list();
  l.push_back(std::move(cmd));
  std::sort(l.begin(), l.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
}
const std::vector<Subcommand>& subcommands() { return list(); }

bool parse_options(const std::string& usage, const po::options_description& desc,
                   const std::vector<std::string>& args, po::variables_map& vm,
                   const po::positional_options_description* pos) {
  po::options_description all(desc);
  all.add_options()("help,h", "show this help");
  try {
    po::command_line_parser parser(args);
    parser.options(all).style(po::command_line_style::default_style &
                              ~po::command_line_style::allow_guessing);
    if (pos) parser.positional(*pos);
    po::store(parser.run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: " << usage << "\n\n" << all << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    throw UsageError("unknown option '" + e.get_option_name() + "' (see --help)");
  } catch (const po::too_many_positional_options_error&) {
    throw UsageError("too many arguments (see --help)");
  } catch (const po::required_option& e) {
    throw UsageError("missing required option '" + e.get_option_name() + "'");
  } catch (const po::error& e) {
    throw UsageError(std::string(e.what()) + " (see --help)");
  }
  return true;
}

bool progress_enabled(bool quiet) { return !quiet && isatty(fileno(stderr)); }

}  // namespace dsbench::cli
