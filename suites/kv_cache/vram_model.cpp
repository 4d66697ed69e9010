// Parameter counts, quantized weight bytes, KV cache and the fits-on table of `dsbench vram`.
#include "kv_cache/vram_model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "dsbench/error.h"
#include "kv_cache/kv_model.h"

namespace dsbench::suites {

using nlohmann::json;

namespace {

double attention_params(const ModelConfig& m) {
  const double d = double(m.hidden_size), H = double(m.num_attention_heads);
  if (m.is_mla()) {
    const double qk = double(m.qk_nope_head_dim + m.qk_rope_head_dim);
    double q = m.q_lora_rank > 0
                   ? d * m.q_lora_rank + double(m.q_lora_rank) + double(m.q_lora_rank) * H * qk
                   : d * H * qk;
    const double kv = d * double(m.kv_lora_rank + m.qk_rope_head_dim) + double(m.kv_lora_rank) +
                      double(m.kv_lora_rank) * H * double(m.qk_nope_head_dim + m.v_head_dim);
    const double o = H * double(m.v_head_dim) * d;
    return q + kv + o;
  }
  const double hd = double(m.head_dim), kvh = double(m.num_key_value_heads);
  double p = d * H * hd + 2 * d * kvh * hd + H * hd * d;
  // Qwen2 has q/k/v biases; others declare "attention_bias".
  const bool bias = m.model_type == "qwen2" ||
                    (m.raw.contains("attention_bias") && m.raw["attention_bias"].is_boolean() &&
                     m.raw["attention_bias"].get<bool>());
  if (bias) p += H * hd + 2 * kvh * hd;
  return p;
}

// One decoder layer, split by part (layer index decides dense vs MoE).
void add_layer(const ModelConfig& m, int64_t layer, ParamCounts* c, double* active) {
  const double d = double(m.hidden_size);
  const double attn = attention_params(m);
  c->attention += attn;
  c->norms += 2 * d;
  *active += attn + 2 * d;
  if (m.is_moe_layer(layer)) {
    const double expert = 3 * d * double(m.moe_intermediate_size);
    c->moe_routed += expert * double(m.n_routed_experts);
    c->moe_shared += expert * double(m.n_shared_experts);
    double router = d * double(m.n_routed_experts);
    if (m.topk_method == "noaux_tc") router += double(m.n_routed_experts);  // correction bias
    c->router += router;
    *active += expert * double(m.num_experts_per_tok + m.n_shared_experts) + router;
  } else {
    const double ffn = 3 * d * double(m.intermediate_size);
    c->dense_ffn += ffn;
    *active += ffn;
  }
}

}  // namespace

ParamCounts count_params(const ModelConfig& m) {
  ParamCounts c;
  const double d = double(m.hidden_size), V = double(m.vocab_size);
  c.embedding = V * d;
  c.lm_head = m.tie_word_embeddings ? 0 : V * d;
  c.norms = d;  // final norm
  double active = c.embedding + c.lm_head + d;
  for (int64_t l = 0; l < m.num_hidden_layers; ++l) add_layer(m, l, &c, &active);
  // DeepSeek-V3's MTP module, as stored in its checkpoint: a full (MoE) decoder layer plus
  // enorm/hnorm, the 2d -> d projection, its own copy of the embedding and head, and a norm.
  for (int64_t i = 0; i < m.num_nextn_predict_layers; ++i) {
    ParamCounts layer;
    double unused = 0;
    add_layer(m, m.num_hidden_layers + i, &layer, &unused);
    c.mtp += layer.total_main() + 2 * d + 2 * d * d + d + V * d + V * d;
  }
  c.active = active;
  return c;
}

const std::vector<Quant>& quantizations() {
  // Bits per weight including block scales (llama.cpp block layouts; K-quant mixes are averages).
  static const std::vector<Quant> q = {
      {"fp32", 32, "float32"},
      {"bf16", 16, "bfloat16"},
      {"fp16", 16, "float16"},
      {"fp8", 8.002, "e4m3 with one fp32 scale per 128x128 block (DeepSeek-V3 release format)"},
      {"int8", 8.125, "int8 with one fp16 scale per 128 weights"},
      {"q8_0", 8.5, "llama.cpp Q8_0: 32 int8 + fp16 scale per block"},
      {"q6_k", 6.5625, "llama.cpp Q6_K: 210 bytes per 256 weights"},
      {"q5_k_m", 5.69, "llama.cpp Q5_K_M: Q5_K (5.5) with some tensors in Q6_K; average"},
      {"q4_k_m", 4.85, "llama.cpp Q4_K_M: Q4_K (4.5) with some tensors in Q6_K; average"},
      {"q4_k_s", 4.58, "llama.cpp Q4_K_S: mostly Q4_K; average"},
      {"q4_0", 4.5, "llama.cpp Q4_0: 32 4-bit + fp16 scale per block"},
      {"int4", 4.25, "GPTQ/AWQ 4-bit, group 128, fp16 scale and zero"},
      {"q3_k_m", 3.91, "llama.cpp Q3_K_M: mix; average"},
      {"q2_k", 2.625, "llama.cpp Q2_K: 84 bytes per 256 weights"},
  };
  return q;
}

const Quant* find_quant(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char ch) { return std::tolower(ch); });
  for (const Quant& q : quantizations())
    if (q.name == n) return &q;
  return nullptr;
}

std::vector<Gpu> load_gpu_catalogue() {
  const std::filesystem::path dir = models_dir().parent_path() / "gpus";
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(dir))
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw UsageError("GPU catalogue: no *.json in " + dir.string());
  std::vector<Gpu> out;
  for (const auto& f : files) {
    const json j = read_json_file(f);
    auto num = [&](const json& o, const char* field, bool required) -> double {
      if (!o.contains(field)) {
        if (required) throw UsageError(f.string() + ": field '" + field + "': missing (required)");
        return 0;
      }
      if (!o[field].is_number() || o[field].get<double>() < 0)
        throw UsageError(f.string() + ": field '" + field + "': expected a non-negative number");
      return o[field].get<double>();
    };
    Gpu g;
    g.id = f.stem().string();
    if (!j.is_object() || !j.contains("name") || !j["name"].is_string())
      throw UsageError(f.string() + ": field 'name': missing or not a string");
    g.name = j["name"].get<std::string>();
    g.memory_bytes = num(j, "memory_bytes", true);
    if (g.memory_bytes <= 0) throw UsageError(f.string() + ": field 'memory_bytes': must be positive");
    if (j.contains("peak")) {
      if (!j["peak"].is_object()) throw UsageError(f.string() + ": field 'peak': expected an object");
      g.bandwidth_gbps = num(j["peak"], "bandwidth_gbps", false);
      g.bf16_tflops = num(j["peak"], "bf16_tflops", false);
      g.fp8_tflops = num(j["peak"], "fp8_tflops", false);
    }
    out.push_back(g);
  }
  return out;
}

json vram_report(const ModelConfig& m, const VramOptions& o, const std::vector<Gpu>& gpus) {
  const Quant* q = find_quant(o.quant);
  if (!q) throw UsageError("--quant: unknown quantization '" + o.quant + "'");
  const ParamCounts p = count_params(m);
  const double params = o.include_mtp ? p.total() : p.total_main();
  const double weights = params * q->bits_per_weight / 8.0;
  const CacheKind kind = actual_kind(m);
  const double kv_per_token = kv_bytes_per_token(m, kind, o.kv_dtype);
  const double kv = kv_per_token * double(o.context) * double(o.batch);
  json r;
  r["model"] = m.name;
  r["params"] = {{"embedding", p.embedding}, {"lm_head", p.lm_head}, {"attention", p.attention},
                 {"dense_ffn", p.dense_ffn}, {"moe_routed", p.moe_routed},
                 {"moe_shared", p.moe_shared}, {"router", p.router}, {"norms", p.norms},
                 {"mtp", p.mtp}, {"total_main", p.total_main()}, {"total_with_mtp", p.total()},
                 {"active_per_token", p.active}, {"counted", params}};
  r["quant"] = {{"name", q->name}, {"bits_per_weight", q->bits_per_weight}, {"note", q->note}};
  r["weights_bytes"] = weights;
  r["kv"] = {{"kind", cache_kind_name(kind)}, {"dtype", kernels::dtype_name(o.kv_dtype)},
             {"bytes_per_token", kv_per_token}, {"context", o.context}, {"batch", o.batch},
             {"bytes", kv}};
  const double frac = o.overhead_fraction * (weights + kv);
  r["overhead"] = {{"fraction_of_weights_and_kv", o.overhead_fraction},
                   {"per_gpu_bytes", o.overhead_per_gpu_bytes},
                   {"assumption", "activations, allocator fragmentation and workspaces as a fraction "
                                  "of weights+KV, plus a fixed CUDA context and library workspace "
                                  "per GPU; even tensor-parallel split"}};
  r["total_one_gpu_bytes"] = weights + kv + frac + o.overhead_per_gpu_bytes;
  json fits = json::array();
  for (const Gpu& g : gpus) {
    json row;
    row["gpu"] = g.name;
    row["id"] = g.id;
    row["memory_bytes"] = g.memory_bytes;
    json counts = json::object();
    int min_gpus = 0;
    for (int n : {1, 2, 4, 8}) {
      const double need_per_gpu = (weights + kv + frac) / n + o.overhead_per_gpu_bytes;
      const bool fit = need_per_gpu <= g.memory_bytes;
      counts[std::to_string(n)] = {{"fits", fit}, {"need_per_gpu_bytes", need_per_gpu},
                                   {"headroom_bytes", g.memory_bytes - need_per_gpu}};
      if (fit && min_gpus == 0) min_gpus = n;
    }
    row["counts"] = counts;
    row["min_gpus"] = min_gpus;  // 0: more than 8 needed
    fits.push_back(row);
  }
  r["gpus"] = fits;
  return r;
}

}  // namespace dsbench::suites
