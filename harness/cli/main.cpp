// dsbench entry point: dispatches to a subcommand and maps errors to exit codes
// (0 ok, 1 gate failed, 2 bad usage or input, 3 runtime failure).
#include <cstdio>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "dsbench/error.h"
#include "subcommand.h"

namespace {

void print_help(std::ostream& os) {
  os << "dsbench: benchmarks and profiles DeepSeek-style inference (MLA, DeepSeekMoE)\n\n"
        "usage: dsbench <command> [options]     (dsbench <command> --help for its options)\n\n"
        "commands:\n";
  for (const auto& c : dsbench::cli::subcommands()) {
    std::string name = c.name;
    name.resize(std::max<size_t>(name.size(), 11), ' ');
    os << "  " << name << c.summary << "\n";
  }
  os << "\nexit codes: 0 ok, 1 a gate failed, 2 bad usage or input, 3 runtime failure\n";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dsbench::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    print_help(std::cerr);
    return kExitUsage;
  }
  const std::string cmd = args[0];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    print_help(std::cout);
    return kExitOk;
  }
  if (cmd == "--version") {
    std::cout << "dsbench 0.1.0\n";
    return kExitOk;
  }
  const Subcommand* sub = nullptr;
  for (const auto& c : subcommands()) {
    if (c.name == cmd) sub = &c;
  }
  if (!sub) {
    std::cerr << "dsbench: error: unknown command '" << cmd << "' (see dsbench --help)\n";
    return kExitUsage;
  }
  try {
    return sub->run(std::vector<std::string>(args.begin() + 1, args.end()));
  } catch (const dsbench::UsageError& e) {
    std::cerr << "dsbench " << cmd << ": error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const dsbench::GateFailure& e) {
    std::cerr << "dsbench " << cmd << ": gate failed: " << e.what() << "\n";
    return kExitGateFailed;
  } catch (const std::bad_alloc&) {
    std::cerr << "dsbench " << cmd << ": error: out of memory\n";
    return kExitRuntime;
  } catch (const std::exception& e) {
    std::cerr << "dsbench " << cmd << ": error: " << e.what() << "\n";
    return kExitRuntime;
  }
}
