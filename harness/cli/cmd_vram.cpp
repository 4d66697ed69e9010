// `dsbench vram`: memory to self-host a model: weights by quantization, KV cache, a stated runtime
// overhead, and which GPUs (configs/gpus) hold it at 1/2/4/8 GPUs.
#include <cstdio>
#include <iostream>
#include <string>

#include "dsbench/config.h"
#include "dsbench/error.h"
#include "dsbench/kernels/dtype.h"
#include "kv_cache/vram_model.h"
#include "subcommand.h"

namespace dsbench::cli {
namespace {
namespace po = boost::program_options;
using nlohmann::json;

// Bytes in GB, or MB below 1 GB (small models would print 0.0 GB otherwise).
std::string gb(double bytes) {
  char buf[64];
  if (bytes >= 1e9 || bytes == 0) std::snprintf(buf, sizeof buf, "%.1f GB", bytes / 1e9);
  else std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}
// A parameter count in billions, or millions / thousands where billions would print 0.00B.
std::string billions(double n) {
  char buf[64];
  if (n >= 1e9 || n == 0) std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  else if (n >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  else std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
  return buf;
}
std::string pad(const std::string& s, size_t w) { return s.size() >= w ? s : s + std::string(w - s.size(), ' '); }
std::string lpad(const std::string& s, size_t w) { return s.size() >= w ? s : std::string(w - s.size(), ' ') + s; }

int vram(const std::vector<std::string>& args) {
  po::options_description desc("options");
  std::string quant_list;
  for (const auto& q : suites::quantizations()) quant_list += (quant_list.empty() ? "" : ", ") + q.name;
  desc.add_options()
    ("model,m", po::value<std::string>()->default_value("deepseek-v3"), "model name in configs/models or a config.json path")
    ("quant,q", po::value<std::string>()->default_value("bf16"), ("weight quantization: " + quant_list).c_str())
    ("context,c", po::value<int64_t>()->default_value(4096), "tokens per sequence")
    ("batch,b", po::value<int64_t>()->default_value(1), "concurrent sequences")
    ("kv-dtype", po::value<std::string>()->default_value("bf16"), "KV cache dtype: fp32, bf16, fp16, fp8")
    ("overhead", po::value<double>()->default_value(0.10), "runtime overhead as a fraction of weights + KV")
    ("overhead-per-gpu-gb", po::value<double>()->default_value(1.5 * double(1ull << 30) / 1e9, "1.61"),
     "fixed overhead per GPU in GB (CUDA context, library workspaces)")
    ("mtp", "also load the MTP module (speculative decoding)")
    ("json", "print JSON");
  po::variables_map vm;
  if (!parse_options("dsbench vram --model M --quant Q --context N [--batch B] [--kv-dtype D] [--json]",
                     desc, args, vm))
    return kExitOk;
  suites::VramOptions o;
  o.quant = vm["quant"].as<std::string>();
  if (!suites::find_quant(o.quant))
    throw UsageError("--quant: unknown quantization '" + o.quant + "' (known: " + quant_list + ")");
  o.context = vm["context"].as<int64_t>();
  o.batch = vm["batch"].as<int64_t>();
  if (o.context <= 0) throw UsageError("--context: must be positive");
  if (o.batch <= 0) throw UsageError("--batch: must be positive");
  const std::string kvd = vm["kv-dtype"].as<std::string>();
  if (!kernels::parse_dtype(kvd, &o.kv_dtype)) throw UsageError("--kv-dtype: unknown dtype '" + kvd + "'");
  o.overhead_fraction = vm["overhead"].as<double>();
  if (!(o.overhead_fraction >= 0 && o.overhead_fraction < 10)) throw UsageError("--overhead: expected a fraction in [0, 10)");
  o.overhead_per_gpu_bytes = vm["overhead-per-gpu-gb"].as<double>() * 1e9;
  if (!(o.overhead_per_gpu_bytes >= 0)) throw UsageError("--overhead-per-gpu-gb: must be >= 0");
  o.include_mtp = vm.count("mtp") > 0;
  const ModelConfig m = load_model(vm["model"].as<std::string>());
  const json r = suites::vram_report(m, o, suites::load_gpu_catalogue());
  if (vm.count("json")) {
    std::cout << r.dump(2) << "\n";
    return kExitOk;
  }
  const auto& p = r["params"];
  std::cout << "Memory to serve " << m.name << " with " << r["quant"]["name"].get<std::string>()
            << " weights, context " << o.context << " x batch " << o.batch << "\n\n";
  std::cout << "parameters: " << billions(p["counted"].get<double>()) << " counted ("
            << billions(p["total_main"].get<double>()) << " main";
  if (p["mtp"].get<double>() > 0)
    std::cout << (o.include_mtp ? " + " : ", MTP not loaded: ") << billions(p["mtp"].get<double>()) << " MTP";
  std::cout << "; " << billions(p["active_per_token"].get<double>()) << " active per token)\n";
  std::cout << "  embedding " << billions(p["embedding"].get<double>()) << ", lm_head "
            << billions(p["lm_head"].get<double>()) << ", attention " << billions(p["attention"].get<double>())
            << ", dense FFN " << billions(p["dense_ffn"].get<double>()) << ", routed experts "
            << billions(p["moe_routed"].get<double>()) << ", shared experts "
            << billions(p["moe_shared"].get<double>()) << ", router " << billions(p["router"].get<double>())
            << ", norms " << billions(p["norms"].get<double>()) << "\n";
  std::cout << "weights:  " << gb(r["weights_bytes"].get<double>()) << " at "
            << r["quant"]["bits_per_weight"].get<double>() << " bits/weight ("
            << r["quant"]["note"].get<std::string>() << ")\n";
  std::cout << "KV cache: " << gb(r["kv"]["bytes"].get<double>()) << " (" << r["kv"]["kind"].get<std::string>()
            << ", " << r["kv"]["dtype"].get<std::string>() << ", "
            << (long long)r["kv"]["bytes_per_token"].get<double>() << " B/token)\n";
  std::cout << "overhead: " << o.overhead_fraction * 100 << "% of weights+KV + "
            << gb(o.overhead_per_gpu_bytes) << " per GPU ("
            << r["overhead"]["assumption"].get<std::string>() << ")\n";
  std::cout << "total on one GPU: " << gb(r["total_one_gpu_bytes"].get<double>()) << "\n\n";
  std::cout << pad("GPU", 16) << lpad("memory", 10);
  for (int n : {1, 2, 4, 8}) std::cout << lpad(std::string("x") + std::to_string(n), 16);
  std::cout << "\n";
  for (const auto& g : r["gpus"]) {
    std::cout << pad(g["gpu"].get<std::string>(), 16) << lpad(gb(g["memory_bytes"].get<double>()), 10);
    for (int n : {1, 2, 4, 8}) {
      const auto& c = g["counts"][std::to_string(n)];
      std::string cell = (c["fits"].get<bool>() ? "fits " : "no   ") + gb(c["need_per_gpu_bytes"].get<double>());
      std::cout << lpad(cell, 16);
    }
    std::cout << "\n";
  }
  std::cout << "(each cell: fits or not, and the memory needed per GPU)\n";
  return kExitOk;
}

}  // namespace

DSBENCH_REGISTER_SUBCOMMAND({"vram", "memory to self-host a model: weights by quantization + KV + overhead, fits-on table", vram});

}  // namespace dsbench::cli
