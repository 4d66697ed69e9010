// Self-hosting memory model behind `dsbench vram`: parameter counts from a config, weight bytes by
// quantization (real bits per weight), KV cache, a stated runtime overhead, and which GPUs hold it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/config.h"
#include "dsbench/kernels/dtype.h"

namespace dsbench::suites {

// Parameter counts by part. Norm weights are counted; biases where the architecture has them.
struct ParamCounts {
  double embedding = 0;       // token embedding
  double lm_head = 0;         // 0 when tied to the embedding
  double attention = 0;       // all decoder layers: q/k/v/o or the MLA projections and norms
  double dense_ffn = 0;       // dense MLP layers
  double moe_routed = 0;      // routed experts of MoE layers
  double moe_shared = 0;      // shared experts
  double router = 0;          // gate weights (+ correction bias)
  double norms = 0;           // per-layer RMSNorms and the final norm
  double mtp = 0;             // multi-token-prediction module(s), as stored in the checkpoint
  double total_main() const {
    return embedding + lm_head + attention + dense_ffn + moe_routed + moe_shared + router + norms;
  }
  double total() const { return total_main() + mtp; }
  // Parameters one token touches (routed experts: top-k of them).
  double active = 0;
};
ParamCounts count_params(const ModelConfig& m);

struct Quant {
  std::string name;        // "bf16", "fp8", "q4_k_m", ...
  double bits_per_weight;  // real storage including scales
  std::string note;
};
const std::vector<Quant>& quantizations();
// nullptr when unknown (case-insensitive).
const Quant* find_quant(const std::string& name);

struct Gpu {
  std::string id;    // file stem, e.g. "h100-80g"
  std::string name;  // "H100 80G"
  double memory_bytes = 0;
  double bandwidth_gbps = 0, bf16_tflops = 0, fp8_tflops = 0;
};
// Reads configs/gpus/*.json (next to models_dir()); UsageError naming the file and field.
std::vector<Gpu> load_gpu_catalogue();

struct VramOptions {
  std::string quant = "bf16";
  int64_t context = 4096;
  int64_t batch = 1;
  kernels::DType kv_dtype = kernels::DType::kBF16;
  double overhead_fraction = 0.10;      // of weights + KV: activations, fragmentation
  double overhead_per_gpu_bytes = 1.5 * double(1ull << 30);  // CUDA context, workspaces
  bool include_mtp = false;             // load the MTP module too (speculative decoding)
};

// Weights + KV + overhead and the fits-on table for GPU counts 1/2/4/8 (even tensor-parallel split).
nlohmann::json vram_report(const ModelConfig& m, const VramOptions& o, const std::vector<Gpu>& gpus);

}  // namespace dsbench::suites
