// `dsbench kv`: KV-cache bytes per token for MHA/GQA/MQA/MLA of a model, totals at a context and
// batch, the longest context in a memory budget, and the real figures behind quoted claims.
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include "dsbench/config.h"
#include "dsbench/error.h"
#include "dsbench/kernels/dtype.h"
#include "kv_cache/kv_model.h"
#include "subcommand.h"

namespace dsbench::cli {
namespace {
namespace po = boost::program_options;
using nlohmann::json;

// 70272 -> "70,272"
std::string grouped(double v) {
  const long long x = (long long)(v < 0 ? v - 0.5 : v + 0.5);
  std::string s = std::to_string(x < 0 ? -x : x), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return (x < 0 ? "-" : "") + out;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string pad(const std::string& s, size_t w) { return s.size() >= w ? s : s + std::string(w - s.size(), ' '); }
std::string lpad(const std::string& s, size_t w) { return s.size() >= w ? s : std::string(w - s.size(), ' ') + s; }

int kv(const std::vector<std::string>& args) {
  po::options_description desc("options");
  desc.add_options()
    ("model,m", po::value<std::string>()->default_value("deepseek-v3"), "model name in configs/models or a config.json path")
    ("context,c", po::value<int64_t>()->default_value(131072), "tokens per sequence")
    ("batch,b", po::value<int64_t>()->default_value(1), "sequences")
    ("dtype,d", po::value<std::string>()->default_value("bf16"), "cache dtype: fp32, bf16, fp16, fp8")
    ("budget", po::value<double>(), "memory budget in GB (1e9 bytes) for the longest-context column")
    ("json", "print JSON");
  po::variables_map vm;
  if (!parse_options("dsbench kv --model M --context N [--batch B] [--dtype D] [--budget GB] [--json]",
                     desc, args, vm))
    return kExitOk;
  const int64_t context = vm["context"].as<int64_t>(), batch = vm["batch"].as<int64_t>();
  if (context <= 0) throw UsageError("--context: must be positive, got " + std::to_string(context));
  if (batch <= 0) throw UsageError("--batch: must be positive, got " + std::to_string(batch));
  kernels::DType dt;
  const std::string dts = vm["dtype"].as<std::string>();
  if (!kernels::parse_dtype(dts, &dt)) throw UsageError("--dtype: unknown dtype '" + dts + "' (fp32, bf16, fp16, fp8)");
  double budget = 0;
  if (vm.count("budget")) {
    budget = vm["budget"].as<double>() * 1e9;
    if (!(budget > 0)) throw UsageError("--budget: must be a positive number of GB");
  }
  const ModelConfig m = load_model(vm["model"].as<std::string>());
  const json r = suites::kv_report(m, dt, context, batch, budget);
  if (vm.count("json")) {
    std::cout << r.dump(2) << "\n";
    return kExitOk;
  }

  std::cout << "KV cache of " << m.name << " (" << (m.is_mla() ? "MLA" : "GQA") << ", "
            << m.num_hidden_layers << " layers), " << kernels::dtype_name(dt) << ", context "
            << grouped(double(context)) << " x batch " << batch << "\n\n";
  std::cout << pad("kind", 16) << pad("cached per token and layer", 62) << lpad("values", 8)
            << lpad("B/tok/layer", 13) << lpad("B/token", 12) << lpad("total GB", 11)
            << lpad("GiB", 9) << lpad("x actual", 10);
  if (budget > 0) std::cout << lpad("max context", 14);
  std::cout << "\n";
  for (const auto& v : r["variants"]) {
    std::string kind = v["kind"].get<std::string>() + (v["actual"].get<bool>() ? " *" : "");
    std::cout << pad(kind, 16) << pad(v["description"].get<std::string>(), 62)
              << lpad(grouped(v["values_per_token_layer"].get<double>()), 8)
              << lpad(grouped(v["bytes_per_token_layer"].get<double>()), 13)
              << lpad(grouped(v["bytes_per_token"].get<double>()), 12)
              << lpad(fixed(v["total_bytes"].get<double>() / 1e9, 2), 11)
              << lpad(fixed(v["total_bytes"].get<double>() / double(1ull << 30), 2), 9)
              << lpad(fixed(v["vs_actual"].get<double>(), 2) + "x", 10);
    if (budget > 0) std::cout << lpad(grouped(v["max_context_in_budget"].get<double>()), 14);
    std::cout << "\n";
  }
  std::cout << "(* = what the model caches; GB = 1e9 bytes, GiB = 2^30 bytes";
  if (budget > 0) std::cout << "; max context per sequence for batch " << batch << " in " << fixed(budget / 1e9, 1) << " GB";
  std::cout << ")\n";
  if (r.contains("flashmla_fp8")) {
    const auto& f = r["flashmla_fp8"];
    std::cout << "FlashMLA FP8 cache: " << grouped(f["bytes_per_token_layer"].get<double>())
              << " B/token/layer (" << f["layout"].get<std::string>() << ") = "
              << grouped(f["bytes_per_token"].get<double>()) << " B/token\n";
  }
  if (!r["cross_model"].empty()) {
    std::cout << "\nOther models' own caches (" << kernels::dtype_name(dt) << ", per token, all layers):\n";
    for (const auto& c : r["cross_model"])
      std::cout << "  " << pad(c["model"].get<std::string>(), 18) << pad(c["kind"].get<std::string>(), 14)
                << lpad(grouped(c["bytes_per_token"].get<double>()), 10) << " B = "
                << fixed(c["ratio_other_over_this"].get<double>(), 2) << "x " << m.name << "\n";
  }
  for (const auto& c : r["claims"]) {
    std::cout << "\nClaim: \"" << c["claim"].get<std::string>() << "\"\n";
    if (c.contains("comparisons"))
      for (const auto& k : c["comparisons"])
        std::cout << "  " << pad(k["compared"].get<std::string>(), 26) << lpad(fixed(k["factor"].get<double>(), 2), 8)
                  << "x  (" << k["description"].get<std::string>() << ")\n";
    std::cout << "  " << c["verdict"].get<std::string>() << "\n";
  }
  return kExitOk;
}

}  // namespace

DSBENCH_REGISTER_SUBCOMMAND({"kv", "KV-cache bytes per token (MHA/GQA/MQA/MLA), totals, budget, claims", kv});

}  // namespace dsbench::cli
