// moe_routing plan options (suite_options.h).
#include "moe_routing/suite_options.h"

#include <set>

#include "dsbench/error.h"

namespace dsbench::suites::moe {

namespace {
[[noreturn]] void fail(const std::string& field, const std::string& what) {
  throw UsageError("moe_routing options." + field + ": " + what);
}
double num(const nlohmann::json& o, const std::string& f, double lo, double hi) {
  const auto& v = o.at(f);
  if (!v.is_number()) fail(f, "expected a number");
  const double d = v.get<double>();
  if (!(d >= lo && d <= hi))
    fail(f, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return d;
}
int64_t integer(const nlohmann::json& o, const std::string& f, int64_t lo, int64_t hi) {
  const auto& v = o.at(f);
  if (!v.is_number_integer()) fail(f, "expected an integer");
  const int64_t d = v.get<int64_t>();
  if (d < lo || d > hi)
    fail(f, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return d;
}
}  // namespace

MoeSuiteOptions parse_suite_options(const nlohmann::json& o, bool quick) {
  MoeSuiteOptions r;
  if (quick) {
    r.steps = 400;
    r.tokens_per_step = 256;
    r.tokens = 512;
    r.windows = 2;
    r.max_layers = 2;
    r.router_tokens = 2048;
    r.permute_tokens = 1024;
  }
  if (o.is_null()) return r;
  if (!o.is_object()) throw UsageError("moe_routing options: expected an object");
  static const std::set<std::string> known = {
      "trace",           "zipf_s",         "dirichlet_alpha", "noise",         "gamma", "steps",
      "tokens_per_step", "tokens",         "windows",         "max_layers",    "nodes", "eplb_gpus",
      "eplb_nodes",      "dispatch_dtype", "router_tokens",   "permute_tokens"};
  for (const auto& [k, v] : o.items())
    if (!known.count(k)) fail(k, "unknown option");
  if (o.contains("trace")) {
    if (!o["trace"].is_string()) fail("trace", "expected a file path");
    r.trace = o["trace"].get<std::string>();
  }
  if (o.contains("zipf_s")) r.zipf_s = num(o, "zipf_s", 0.0, 10.0);
  if (o.contains("dirichlet_alpha")) r.dirichlet_alpha = num(o, "dirichlet_alpha", 1e-3, 1e3);
  if (o.contains("noise")) r.noise = num(o, "noise", 1e-3, 100.0);
  if (o.contains("gamma")) r.gamma = num(o, "gamma", 0.0, 1.0);
  if (o.contains("steps")) r.steps = int(integer(o, "steps", 1, 1000000));
  if (o.contains("tokens_per_step")) r.tokens_per_step = integer(o, "tokens_per_step", 1, 1 << 24);
  if (o.contains("tokens")) r.tokens = integer(o, "tokens", 1, 1 << 24);
  if (o.contains("windows")) r.windows = int(integer(o, "windows", 1, 100000));
  if (o.contains("max_layers")) r.max_layers = int(integer(o, "max_layers", 0, 100000));
  if (o.contains("nodes")) r.nodes = int(integer(o, "nodes", 0, 4096));
  if (o.contains("eplb_gpus")) r.eplb_gpus = int(integer(o, "eplb_gpus", 0, 65536));
  if (o.contains("eplb_nodes")) r.eplb_nodes = int(integer(o, "eplb_nodes", 0, 65536));
  if (o.contains("router_tokens")) r.router_tokens = integer(o, "router_tokens", 1, 1 << 26);
  if (o.contains("permute_tokens")) r.permute_tokens = integer(o, "permute_tokens", 0, 1 << 26);
  if (o.contains("dispatch_dtype")) {
    if (!o["dispatch_dtype"].is_string() ||
        !kernels::parse_dtype(o["dispatch_dtype"].get<std::string>(), &r.dispatch_dtype))
      fail("dispatch_dtype", "expected one of fp32, bf16, fp16, fp8");
  }
  return r;
}

}  // namespace dsbench::suites::moe
