// The "serving" suite: starts an in-process OpenAI server on a free loopback port (null backend,
// and the embedded engine on the run's model when it can run it) and measures a streaming load
// against it with the same client and metrics as `dsbench load`.
#include <memory>
#include <mutex>

#include "dsbench/engine/model.h"
#include "dsbench/error.h"
#include "dsbench/registry.h"
#include "serving/client.h"
#include "serving/engine_backend.h"
#include "serving/metrics.h"
#include "serving/null_backend.h"
#include "serving/server.h"

namespace dsbench::suites {

namespace {

using nlohmann::json;
using namespace dsbench::serving;

struct LoadPlan {
  std::string engine;  // "null" | "engine"
  int64_t num_prompts, input_len, output_len, max_concurrency;
};

// One load run shared by the benchmarks that report its metrics; it runs on first use.
struct SharedLoad {
  LoadPlan plan;
  const ModelConfig* model;
  uint64_t seed;
  std::once_flag once;
  std::vector<BenchmarkRecord> records;
  std::string error;

  const BenchmarkRecord& get(const std::string& name) {
    std::call_once(once, [&] {
      try {
        run();
      } catch (const std::exception& e) {
        error = e.what();
      }
    });
    if (!error.empty()) throw Error(error);
    for (const auto& r : records)
      if (r.name == name) return r;
    throw Error("no record " + name);
  }

  void run() {
    std::shared_ptr<TokenStreamBackend> backend;
    if (plan.engine == "null") {
      backend = std::make_shared<NullBackend>();
    } else {
      EngineBackendOptions eo;
      eo.seed = seed;
      backend = std::make_shared<EngineBackend>(*model, eo);
    }
    ServerOptions so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.model_name = model->name;
    Server server(so, backend);
    const uint16_t port = server.start();

    RandomDatasetOptions d;
    d.num_prompts = plan.num_prompts;
    d.input_len = plan.input_len;
    d.output_len = plan.output_len;
    d.format = PromptFormat::kIds;
    d.id_min = 0;
    d.id_max = std::min<int64_t>(256, backend->vocab_size());
    d.seed = seed;
    ClientOptions co;
    co.url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
    co.model = model->name;
    co.max_concurrency = plan.max_concurrency;
    co.request_timeout_s = 120;
    co.max_duration_s = 300;
    co.seed = seed;
    LoadResult res = run_load(co, random_dataset(d));
    server.stop();
    backend->shutdown();
    json params = {{"engine", plan.engine}, {"dataset", "random"}, {"input_len", plan.input_len},
                   {"output_len", plan.output_len}, {"num_prompts", plan.num_prompts},
                   {"max_concurrency", plan.max_concurrency}, {"request_rate", "inf"}};
    std::optional<double> ceiling;
    if (plan.engine == "null") ceiling = res.events_per_s;
    records = load_records(res, Slo{}, params, ceiling);
  }
};

int64_t opt(const json& o, const char* key, int64_t dflt) {
  if (!o.contains(key)) return dflt;
  if (!o[key].is_number_integer() || o[key].get<int64_t>() < 1)
    throw UsageError(std::string("serving suite option '") + key + "': expected a positive integer");
  return o[key].get<int64_t>();
}

std::vector<Benchmark> make_serving(const SuiteContext& ctx) {
  std::vector<LoadPlan> plans;
  const json& o = ctx.options;
  if (ctx.quick) {
    plans.push_back({"null", opt(o, "num_prompts", 64), 32, opt(o, "output_len", 64), 16});
    plans.push_back({"engine", 8, 16, 8, 4});
  } else {
    plans.push_back({"null", opt(o, "num_prompts", 1000), 128, opt(o, "output_len", 256), 64});
    plans.push_back({"engine", 64, 128, 64, 16});
  }
  std::string engine_skip;
  if (!ctx.model.is_mla()) {
    engine_skip = "the embedded engine runs MLA models only";
  } else if (engine::estimate_weight_bytes(ctx.model, kernels::DType::kBF16) > 4e9) {
    engine_skip = "model too large for the embedded engine on this host (synthetic weights > 4 GB)";
  }

  std::vector<Benchmark> out;
  for (const auto& plan : plans) {
    auto shared = std::make_shared<SharedLoad>();
    shared->plan = plan;
    shared->model = &ctx.model;
    shared->seed = ctx.seed;
    const json params = {{"engine", plan.engine}, {"dataset", "random"}, {"input_len", plan.input_len},
                         {"output_len", plan.output_len}, {"num_prompts", plan.num_prompts},
                         {"max_concurrency", plan.max_concurrency}, {"request_rate", "inf"}};
    for (const char* metric : {"ttft", "tpot", "itl", "e2el", "output_throughput"}) {
      Benchmark b;
      b.name = metric;
      b.params = params;
      const bool tput = std::string(metric) == "output_throughput";
      b.unit = tput ? "tok/s" : "s";
      b.direction = tput ? Direction::kHigher : Direction::kLower;
      b.device = "cpu";
      if (plan.engine == "engine" && !engine_skip.empty()) {
        b.skipped = engine_skip;
      } else {
        b.measure = [shared, name = std::string(metric)] {
          const BenchmarkRecord& r = shared->get(name);
          return Measurement{r.samples, r.counters, r.data, {}};
        };
      }
      out.push_back(std::move(b));
    }
  }
  return out;
}

}  // namespace

DSBENCH_REGISTER_SUITE({"serving",
                        "OpenAI-compatible serving: TTFT/TPOT/ITL/E2EL and throughput of a streaming "
                        "load against an in-process server (null backend and embedded engine)",
                        make_serving});

}  // namespace dsbench::suites
