// dsbench entry point: dispatches to a subcommand and maps errors to exit codes
// (0 ok, 1 gate failed, 2 bad usage or input, 3 runtime failure).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include "dsbench/error.h"
#include "dsbench/host.h"
#include "dsbench/kernels/gemm.h"
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

// OpenBLAS chose its kernels when it loaded. On a CPU it does not know (Debian bookworm's 0.3.21
// on an Emerald Rapids Xeon) it takes its generic SSE3 kernels, and prefill's sgemm runs 3.5-6x
// slower ([512 x 512] x [512 x 3072]: 31-54 ms against 8.6-9.2 ms with the AVX-512 ones). Then
// dsbench starts itself again once, with OPENBLAS_CORETYPE naming the kernels the CPU supports. A
// user's own OPENBLAS_CORETYPE is left alone. Results record the core under host.blas.
void choose_blas_core(char** argv) {
  const char* set = std::getenv("OPENBLAS_CORETYPE");
  nlohmann::json blas = {{"library", "OpenBLAS"}, {"core", dsbench::kernels::blas_core_name()}};
  if (set) {
    blas["OPENBLAS_CORETYPE"] = set;
    blas["set_by"] = std::getenv("DSBENCH_SET_OPENBLAS_CORETYPE") ? "dsbench" : "environment";
  } else if (const char* core = dsbench::kernels::blas_core_for_unknown_cpu()) {
    setenv("OPENBLAS_CORETYPE", core, 1);
    setenv("DSBENCH_SET_OPENBLAS_CORETYPE", "1", 1);
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE");  // could not restart: run on the generic kernels
    unsetenv("DSBENCH_SET_OPENBLAS_CORETYPE");
  }
  dsbench::set_host_fact("blas", blas);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace dsbench::cli;
  choose_blas_core(argv);
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
