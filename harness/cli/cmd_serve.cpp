// `dsbench serve`: the OpenAI-compatible server over the embedded engine (or the null backend,
// which streams tokens without compute) until SIGINT/SIGTERM.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include "dsbench/config.h"
#include "dsbench/error.h"
#include "serving/engine_backend.h"
#include "serving/null_backend.h"
#include "serving/server.h"
#include "subcommand.h"

namespace dsbench::cli {
namespace {
namespace po = boost::program_options;
using namespace dsbench::serving;

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }

int64_t positive(const po::variables_map& vm, const char* name, bool allow_zero = false) {
  int64_t v = vm[name].as<int64_t>();
  if (v < (allow_zero ? 0 : 1))
    throw UsageError(std::string("--") + name + ": must be " + (allow_zero ? ">= 0" : ">= 1"));
  return v;
}

int serve(const std::vector<std::string>& args) {
  po::options_description desc("options");
  desc.add_options()
    ("model,m", po::value<std::string>()->default_value("dsv3-tiny"),
     "model config (configs/models name or config.json path); also the served model name")
    ("served-model-name", po::value<std::string>(), "name clients must send as \"model\" (default: --model)")
    ("host", po::value<std::string>()->default_value("127.0.0.1"), "address to bind (loopback by default)")
    ("port,p", po::value<int>()->default_value(8000), "port (0: any free port, printed on start)")
    ("engine", po::value<std::string>()->default_value("engine"),
     "engine: the embedded engine (synthetic weights); null: stream tokens without compute")
    ("max-inflight", po::value<int64_t>()->default_value(0),
     "requests in flight beyond which new ones get 503; 0 queues without limit")
    ("max-num-seqs", po::value<int64_t>()->default_value(64), "running batch size")
    ("max-step-tokens", po::value<int64_t>()->default_value(512), "engine: tokens per forward step")
    ("kv-budget-mb", po::value<int64_t>()->default_value(256), "engine: KV-cache pool size in MiB")
    ("attention", po::value<std::string>()->default_value("mla_absorbed"),
     "engine: mla_absorbed | mla_naive | mha_cache")
    ("null-step-ms", po::value<double>()->default_value(0.0), "null: simulated time per decode step")
    ("null-kv-blocks", po::value<int64_t>()->default_value(65536), "null: KV blocks in the simulated pool")
    ("default-max-tokens", po::value<int64_t>()->default_value(16), "max_tokens when a request gives none")
    ("seed", po::value<uint64_t>()->default_value(1234), "seed of the synthetic weights");
  po::variables_map vm;
  if (!parse_options("dsbench serve [options]", desc, args, vm)) return kExitOk;

  const std::string engine = vm["engine"].as<std::string>();
  if (engine != "engine" && engine != "null") throw UsageError("--engine: expected engine or null, got '" + engine + "'");
  const int port = vm["port"].as<int>();
  if (port < 0 || port > 65535) throw UsageError("--port: must be in [0, 65535]");
  ModelConfig model = load_model(vm["model"].as<std::string>());

  std::shared_ptr<TokenStreamBackend> backend;
  if (engine == "null") {
    NullBackendOptions no;
    no.max_num_seqs = positive(vm, "max-num-seqs");
    no.kv_blocks_total = positive(vm, "null-kv-blocks");
    no.step_seconds = vm["null-step-ms"].as<double>() / 1e3;
    if (!(no.step_seconds >= 0)) throw UsageError("--null-step-ms: must be >= 0");
    backend = std::make_shared<NullBackend>(no);
  } else {
    EngineBackendOptions eo;
    eo.seed = vm["seed"].as<uint64_t>();
    eo.attention = vm["attention"].as<std::string>();
    eo.kv_budget_bytes = positive(vm, "kv-budget-mb") << 20;
    eo.max_running = positive(vm, "max-num-seqs");
    eo.max_step_tokens = positive(vm, "max-step-tokens");
    backend = std::make_shared<EngineBackend>(model, eo);
  }

  ServerOptions so;
  so.host = vm["host"].as<std::string>();
  so.port = static_cast<uint16_t>(port);
  so.model_name = vm.count("served-model-name") ? vm["served-model-name"].as<std::string>() : model.name;
  so.max_inflight = positive(vm, "max-inflight", true);
  so.default_max_tokens = positive(vm, "default-max-tokens");
  Server server(so, backend);
  const uint16_t bound = server.start();
  std::printf("dsbench serve: listening on http://%s:%u/v1 (model %s, engine %s, max context %lld)\n",
              so.host.c_str(), static_cast<unsigned>(bound), so.model_name.c_str(), engine.c_str(),
              static_cast<long long>(backend->max_context()));
  std::fflush(stdout);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::fprintf(stderr, "dsbench serve: stopping\n");
  server.stop();
  backend->shutdown();
  return kExitOk;
}

}  // namespace

DSBENCH_REGISTER_SUBCOMMAND({"serve", "OpenAI-compatible server for the embedded engine (or --engine null)", serve});

}  // namespace dsbench::cli
