// `dsbench load`: asynchronous streaming load against any OpenAI-compatible server (vLLM, SGLang,
// llama.cpp, Ollama, `dsbench serve`), optionally sweeping concurrency or rate; writes the
// result schema (suite "serving") with per-request rows.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <random>
#include <sstream>

#include "dsbench/error.h"
#include "dsbench/host.h"
#include "dsbench/results.h"
#include "serving/client.h"
#include "serving/metrics.h"
#include "serving/null_backend.h"
#include "serving/server.h"
#include "subcommand.h"

namespace dsbench::cli {
namespace {
namespace po = boost::program_options;
using nlohmann::json;
using namespace dsbench::serving;

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

double parse_rate(const std::string& s) {
  if (s == "inf") return std::numeric_limits<double>::infinity();
  char* end = nullptr;
  double r = std::strtod(s.c_str(), &end);
  if (s.empty() || *end || !(r > 0) || std::isinf(r))
    throw UsageError("--request-rate: expected 'inf' or a positive number of requests/s, got '" + s + "'");
  return r;
}

int64_t parse_concurrency(const std::string& s) {
  char* end = nullptr;
  long long c = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end || c < 0) throw UsageError("--max-concurrency: expected integers >= 0, got '" + s + "'");
  return c;
}

json rate_json(double r) { return std::isinf(r) ? json("inf") : json(r); }

void print_summary(const json& params, const json& s) {
  auto num = [&](const json& j, const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : 0.0; };
  std::printf("============ Serving Benchmark Result ============\n");
  std::printf("%-40s %s\n", "Point:", params.dump().c_str());
  std::printf("%-40s %lld\n", "Successful requests:", static_cast<long long>(num(s, "completed")));
  std::printf("%-40s %lld\n", "Failed requests:", static_cast<long long>(num(s, "failed")));
  for (const auto& [reason, n] : s["failure_reasons"].items())
    std::printf("  %6lld x %s\n", static_cast<long long>(n.get<int64_t>()), reason.c_str());
  std::printf("%-40s %.2f\n", "Benchmark duration (s):", num(s, "duration_s"));
  std::printf("%-40s %lld\n", "Total input tokens:", static_cast<long long>(num(s, "total_input_tokens")));
  std::printf("%-40s %lld (from %s)\n", "Total generated tokens:",
              static_cast<long long>(num(s, "total_output_tokens")), s["tokens_source"].get<std::string>().c_str());
  std::printf("%-40s %.2f\n", "Request throughput (req/s):", num(s, "request_throughput"));
  if (s.contains("request_goodput")) std::printf("%-40s %.2f\n", "Request goodput (req/s):", num(s, "request_goodput"));
  std::printf("%-40s %.2f\n", "Output token throughput (tok/s):", num(s, "output_throughput"));
  std::printf("%-40s %.2f\n", "Total token throughput (tok/s):", num(s, "total_token_throughput"));
  std::printf("%-40s %.0f\n", "Client SSE events/s:", num(s, "client_events_per_s"));
  for (const char* m : {"ttft", "tpot", "itl", "e2el", "schedule_slip", "concurrency_wait"}) {
    const json& d = s[m];
    std::printf("---- %s (ms) n=%lld: mean %.3f  median %.3f  p90 %.3f  p99 %.3f\n", m,
                static_cast<long long>(num(d, "n")), num(d, "mean_ms"), num(d, "median_ms"),
                num(d, "p90_ms"), num(d, "p99_ms"));
  }
  std::printf("==================================================\n");
  std::fflush(stdout);
}

std::string make_run_id() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", rd());
  std::string t = utc_now_iso8601();
  std::erase_if(t, [](char c) { return c == '-' || c == ':'; });
  return "load-" + t + "-" + buf;
}

// The client's own ceiling: a short load against an in-process null server (no compute), so a
// result shows whether the client, not the server, was the limit.
double measure_ceiling(uint64_t seed) {
  auto backend = std::make_shared<NullBackend>();
  ServerOptions so;
  so.port = 0;
  so.model_name = "null";
  Server server(so, backend);
  const uint16_t port = server.start();
  RandomDatasetOptions d;
  d.num_prompts = 256;
  d.input_len = 32;
  d.output_len = 256;
  d.format = PromptFormat::kIds;
  d.id_min = 0;
  d.id_max = 256;
  d.seed = seed;
  ClientOptions co;
  co.url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  co.model = "null";
  co.max_concurrency = 64;
  co.max_duration_s = 120;
  LoadResult r = run_load(co, random_dataset(d));
  server.stop();
  backend->shutdown();
  return r.events_per_s;
}

int load(const std::vector<std::string>& args) {
  po::options_description desc("options");
  desc.add_options()
    ("url", po::value<std::string>(), "server base URL, e.g. http://127.0.0.1:8000/v1 (required)")
    ("model", po::value<std::string>(), "model name the server expects in \"model\" (required)")
    ("endpoint", po::value<std::string>()->default_value("completions"), "completions | chat")
    ("dataset", po::value<std::string>()->default_value("random"), "random, or a JSONL prompts file")
    ("num-prompts,n", po::value<int64_t>()->default_value(100), "requests per run (per sweep point)")
    ("input-len", po::value<int64_t>()->default_value(1024), "random: prompt length (words or ids)")
    ("output-len", po::value<int64_t>()->default_value(128), "random: max_tokens; JSONL: default max_tokens")
    ("range-ratio", po::value<double>()->default_value(0.0), "random: lengths uniform in len*(1 +- r)")
    ("prompt-format", po::value<std::string>()->default_value("text"),
     "random: text (common words, ~1 token each) | ids (token-id prompts, exact lengths)")
    ("id-range", po::value<std::string>()->default_value("100:4000"), "random ids: token ids drawn from [LO, HI)")
    ("request-rate", po::value<std::string>()->default_value("inf"), "requests/s: inf or R; a comma list sweeps")
    ("burstiness", po::value<double>()->default_value(1.0), "gamma shape of inter-arrivals (1.0 = Poisson)")
    ("max-concurrency", po::value<std::string>()->default_value("0"), "requests in flight (0 = unlimited); a comma list sweeps")
    ("warmup", po::value<int64_t>()->default_value(0), "requests sent (and not measured) before each run")
    ("slo", po::value<std::string>(), "goodput SLOs, e.g. ttft:2000,tpot:80 (ms; also e2el)")
    ("timeout", po::value<double>()->default_value(120.0), "seconds per request, connect to last byte")
    ("max-duration", po::value<double>()->default_value(1800.0), "seconds per run; unsent requests then fail")
    ("temperature", po::value<double>()->default_value(0.0), "sampling temperature sent")
    ("top-p", po::value<double>(), "top_p sent (omitted by default)")
    ("no-ignore-eos", "do not send ignore_eos (for servers that reject it)")
    ("no-usage", "do not ask for stream_options.include_usage (tokens then come from chunk counts)")
    ("api-key", po::value<std::string>(), "sent as Authorization: Bearer KEY")
    ("measure-ceiling", "first measure the client's events/s against an in-process null server")
    ("label", po::value<std::string>()->default_value("remote"), "names the target in the params (e.g. vllm)")
    ("seed", po::value<uint64_t>()->default_value(0), "seed of prompts and arrivals")
    ("out,o", po::value<std::string>()->default_value("results/latest.json"), "result file")
    ("quiet,q", "no summary on stdout");
  po::variables_map vm;
  if (!parse_options("dsbench load --url URL --model NAME [options]", desc, args, vm)) return kExitOk;
  if (!vm.count("url")) throw UsageError("--url: required (e.g. http://127.0.0.1:8000/v1)");
  if (!vm.count("model")) throw UsageError("--model: required (the name the server serves)");
  const std::string started = utc_now_iso8601();

  ClientOptions co;
  co.url = vm["url"].as<std::string>();
  parse_url(co.url);  // bad URLs fail before any work
  co.model = vm["model"].as<std::string>();
  const std::string endpoint = vm["endpoint"].as<std::string>();
  if (endpoint != "completions" && endpoint != "chat") throw UsageError("--endpoint: expected completions or chat");
  co.chat = endpoint == "chat";
  co.burstiness = vm["burstiness"].as<double>();
  if (!(co.burstiness > 0)) throw UsageError("--burstiness: must be positive");
  co.request_timeout_s = vm["timeout"].as<double>();
  co.max_duration_s = vm["max-duration"].as<double>();
  if (!(co.request_timeout_s > 0)) throw UsageError("--timeout: must be positive");
  if (!(co.max_duration_s > 0)) throw UsageError("--max-duration: must be positive");
  co.temperature = vm["temperature"].as<double>();
  if (vm.count("top-p")) co.top_p = vm["top-p"].as<double>();
  co.ignore_eos = vm.count("no-ignore-eos") == 0;
  co.include_usage = vm.count("no-usage") == 0;
  if (vm.count("api-key")) co.api_key = vm["api-key"].as<std::string>();
  const uint64_t seed = vm["seed"].as<uint64_t>();
  co.seed = seed;
  Slo slo;
  if (vm.count("slo")) slo = parse_slo(vm["slo"].as<std::string>());
  const int64_t warmup = vm["warmup"].as<int64_t>();
  if (warmup < 0) throw UsageError("--warmup: must be >= 0");
  const int64_t num_prompts = vm["num-prompts"].as<int64_t>();
  if (num_prompts < 1) throw UsageError("--num-prompts: must be at least 1");

  std::vector<double> rates;
  for (const auto& s : split(vm["request-rate"].as<std::string>())) rates.push_back(parse_rate(s));
  std::vector<int64_t> concs;
  for (const auto& s : split(vm["max-concurrency"].as<std::string>())) concs.push_back(parse_concurrency(s));
  if (rates.empty()) throw UsageError("--request-rate: empty list");
  if (concs.empty()) throw UsageError("--max-concurrency: empty list");
  if (rates.size() > 1 && concs.size() > 1)
    throw UsageError("--request-rate and --max-concurrency: sweep one of them at a time");

  // Prompts: the same set for every sweep point, plus a separate warmup set.
  const std::string dataset = vm["dataset"].as<std::string>();
  json base = {{"target", vm["label"].as<std::string>()}, {"endpoint", endpoint}, {"num_prompts", num_prompts},
               {"burstiness", co.burstiness}};
  auto make_requests = [&](int64_t n, uint64_t s) {
    if (dataset == "random") {
      RandomDatasetOptions d;
      d.num_prompts = n;
      d.input_len = vm["input-len"].as<int64_t>();
      d.output_len = vm["output-len"].as<int64_t>();
      d.range_ratio = vm["range-ratio"].as<double>();
      const std::string fmt = vm["prompt-format"].as<std::string>();
      if (fmt != "text" && fmt != "ids") throw UsageError("--prompt-format: expected text or ids");
      d.format = fmt == "ids" ? PromptFormat::kIds : PromptFormat::kText;
      if (d.format == PromptFormat::kIds && co.chat) throw UsageError("--prompt-format ids: needs --endpoint completions");
      const std::string range = vm["id-range"].as<std::string>();
      if (std::sscanf(range.c_str(), "%lld:%lld", reinterpret_cast<long long*>(&d.id_min),
                      reinterpret_cast<long long*>(&d.id_max)) != 2)
        throw UsageError("--id-range: expected LO:HI, got '" + range + "'");
      d.seed = s;
      return random_dataset(d);
    }
    return jsonl_dataset(dataset, n, vm["output-len"].as<int64_t>());
  };
  std::vector<LoadRequest> requests = make_requests(num_prompts, seed);
  std::vector<LoadRequest> warm = warmup > 0 ? make_requests(warmup, seed + 1) : std::vector<LoadRequest>{};
  if (dataset == "random") {
    base["dataset"] = "random";
    base["input_len"] = vm["input-len"].as<int64_t>();
    base["output_len"] = vm["output-len"].as<int64_t>();
    base["range_ratio"] = vm["range-ratio"].as<double>();
    base["prompt_format"] = vm["prompt-format"].as<std::string>();
  } else {
    base["dataset"] = std::filesystem::path(dataset).filename().string();
  }

  SuiteRecord suite;
  suite.name = "serving";
  suite.model = co.model;
  suite.device = "remote";
  std::optional<double> ceiling;
  if (vm.count("measure-ceiling")) {
    ceiling = measure_ceiling(seed);
    BenchmarkRecord c;
    c.name = "client_ceiling";
    c.params = {{"engine", "null"}, {"max_concurrency", 64}, {"num_prompts", 256}, {"output_len", 256}};
    c.unit = "events/s";
    c.direction = Direction::kHigher;
    c.samples = {*ceiling};
    c.stats = compute_stats(c.samples);
    c.counters["client_events_per_s"] = *ceiling;
    suite.benchmarks.push_back(c);
    if (!vm.count("quiet")) std::printf("client ceiling against a null server: %.0f SSE events/s\n", *ceiling);
  }

  int64_t completed_total = 0;
  const bool quiet = vm.count("quiet") > 0;
  for (double rate : rates) {
    for (int64_t conc : concs) {
      co.request_rate = rate;
      co.max_concurrency = conc;
      if (!warm.empty()) run_load(co, warm);
      LoadResult res = run_load(co, requests);
      json params = base;
      params["request_rate"] = rate_json(rate);
      params["max_concurrency"] = conc;
      for (auto& rec : load_records(res, slo, params, ceiling)) {
        if (rec.name == "output_throughput") {
          completed_total += rec.counters.value("completed", int64_t{0});
          if (!quiet) print_summary(params, rec.data["summary"]);
        }
        suite.benchmarks.push_back(std::move(rec));
      }
    }
  }

  RunRecord run;
  run.run_id = make_run_id();
  run.started_at = started;
  run.finished_at = utc_now_iso8601();
  run.command = "dsbench load";
  for (const auto& a : args) run.command += " " + a;
  run.host = host_fingerprint();
  run.suites.push_back(std::move(suite));
  const std::string out = vm["out"].as<std::string>();
  write_json_atomic(out, run.to_json());
  if (!quiet) std::printf("wrote %s\n", out.c_str());
  if (completed_total == 0) {
    std::fprintf(stderr, "dsbench load: no request completed; see failure_reasons in %s\n", out.c_str());
    return kExitRuntime;
  }
  return kExitOk;
}

}  // namespace

DSBENCH_REGISTER_SUBCOMMAND({"load", "streaming load generator for any OpenAI-compatible server", load});

}  // namespace dsbench::cli
