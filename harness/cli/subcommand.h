// Subcommands of the dsbench executable. Each registers itself and parses its own options with
// Boost.Program_options; main.cpp maps exceptions to the exit codes of DESIGN.md section 4.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace dsbench::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitGateFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRuntime = 3;

struct Subcommand {
  std::string name;
  std::string summary;  // one line for `dsbench --help`
  // Receives the arguments after the subcommand name; returns the exit code.
  std::function<int(const std::vector<std::string>& args)> run;
};

void register_subcommand(Subcommand cmd);
const std::vector<Subcommand>& subcommands();

// Parses `args` against `desc` (and optional positionals). Unknown options, missing values and
// bad values become UsageError naming the option. Returns false when --help was asked for (and
// prints "usage" plus the options to stdout), true otherwise.
bool parse_options(const std::string& usage, const boost::program_options::options_description& desc,
                   const std::vector<std::string>& args, boost::program_options::variables_map& vm,
                   const boost::program_options::positional_options_description* pos = nullptr);

// True when progress should be printed: stderr is a terminal and --quiet was not given.
bool progress_enabled(bool quiet);

}  // namespace dsbench::cli

#define DSBENCH_CLI_CONCAT_INNER(a, b) a##b
#define DSBENCH_CLI_CONCAT(a, b) DSBENCH_CLI_CONCAT_INNER(a, b)
// DSBENCH_REGISTER_SUBCOMMAND({"kv", "KV-cache bytes per token", run_kv});
#define DSBENCH_REGISTER_SUBCOMMAND(...)                                         \
  static const bool DSBENCH_CLI_CONCAT(dsbench_subcommand_registered_, __LINE__) = \
      (::dsbench::cli::register_subcommand(::dsbench::cli::Subcommand __VA_ARGS__), true)
