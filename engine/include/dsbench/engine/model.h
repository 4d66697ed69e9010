// The DeepSeek-V3-architecture model: weights laid out for the CPU kernels, and the batched
// forward pass (MLA attention in three cache modes, dense FFN / DeepSeekMoE, LM head).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dsbench/config.h"
#include "dsbench/kernels/dtype.h"
#include "dsbench/kernels/gemm.h"
#include "dsbench/kernels/moe_gate.h"

namespace dsbench::engine {

// How attention caches and reads K/V. Same weights, same logits (fp32 cache: rel err < 1e-4).
enum class AttentionMode {
  kMlaAbsorbed,  // cache kv_norm(c_KV) and k_pe; attend in latent space (W_UK/W_UV absorbed)
  kMlaNaive,     // cache the latent; decompress per-head K and V from it at every step
  kMhaCache,     // cache per-head K = [W_UK c ; k_pe] and V = W_UV c, as an MHA engine would
};
const char* to_string(AttentionMode m);  // "mla_absorbed", "mla_naive", "mha_cache"
// Throws UsageError naming the value on an unknown name.
AttentionMode parse_attention_mode(const std::string& s);
std::vector<AttentionMode> all_attention_modes();

// A linear layer's weight [n, k] (torch Linear layout) in fp32 or bf16 storage.
// bf16 weights the GEMMs read are repacked once, after loading, into the kernels' kPanel16 layout
// (16-row panels streamed sequentially); `bf16` then holds the panels. Once the model is built,
// every Linear's values move into one huge-page arena the model owns (see ModelWeights::arena):
// `placed` points at them there and the vectors are emptied.
struct Linear {
  int64_t n = 0, k = 0;
  kernels::DType dtype = kernels::DType::kBF16;
  bool packed = false;  // bf16 holds kPanel16 panels instead of rows
  std::vector<uint16_t> bf16;
  std::vector<float> f32;
  const void* placed = nullptr;  // the values in the arena, once placed
  int64_t placed_elems = 0;
  kernels::WeightView view() const;
  // View of rows [r0, r0 + rows); packed: r0 must be a multiple of 16.
  kernels::WeightView rows(int64_t r0, int64_t rows) const;
  void pack();  // bf16 rows -> kPanel16 (no-op for fp32 or when packed)
  int64_t bytes() const { return n * k * kernels::dtype_bytes(dtype); }
  // Row r widened to fp32.
  void row_f32(int64_t r, float* out) const;
  // The stored values (rows or panels), wherever they live, and how many there are.
  const uint16_t* bf16_data() const {
    return placed ? static_cast<const uint16_t*>(placed) : bf16.data();
  }
  const float* f32_data() const { return placed ? static_cast<const float*>(placed) : f32.data(); }
  int64_t stored_elems() const {
    return placed ? placed_elems : int64_t(dtype == kernels::DType::kBF16 ? bf16.size() : f32.size());
  }
};

struct Expert {
  Linear gate_up;  // [2*inter, hidden]: gate_proj rows then up_proj rows (one GEMM)
  Linear down;     // [hidden, inter]
};

struct LayerWeights {
  std::vector<float> input_norm, post_attn_norm;  // [hidden]
  bool q_lora = true;
  Linear q_a, q_b;                 // q_lora: q_a [q_lora, hidden], q_b [heads*qk, q_lora]
  std::vector<float> q_a_norm;     // [q_lora]
  Linear q;                        // no q_lora: q_proj [heads*qk, hidden]
  Linear kv_a;                     // [kv_lora + rope, hidden] (kv_a_proj_with_mqa)
  std::vector<float> kv_a_norm;    // [kv_lora]
  Linear kv_b;                     // [heads*(nope+v), kv_lora]
  Linear o;                        // [hidden, heads*v]
  // fp32 halves of kv_b for the attention kernels: [heads, nope, kv_lora], [heads, v, kv_lora].
  std::vector<float> w_uk, w_uv;
  // W_UK transposed per head, [heads*kv_lora, nope] in the storage dtype: absorbs q_nope into
  // the latent space with the GEMM (decode), reading as many bytes as kv_b's W_UK half.
  Linear uk_t;
  // FFN: dense, or MoE (router kept in fp32: routing decisions must not depend on storage).
  bool moe = false;
  Expert dense;
  std::vector<float> router;       // [experts, hidden]
  std::vector<float> router_bias;  // e_score_correction_bias [experts]
  std::vector<Expert> experts;
  Expert shared;                   // n_shared_experts fused: inter = moe_inter * n_shared
};

struct ModelWeights {
  Linear embed;    // [vocab, hidden]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;
  Linear lm_head;  // [vocab, hidden]
  // One allocation holding every Linear's values, on 2 MiB pages where the OS offers them:
  // decode streams tens of MB of weights per step, which reads 10-15% faster from huge pages on
  // the development host (docs/engine.md).
  std::shared_ptr<void> arena;
  // Moves every Linear's values into `arena` (called once the weights are final).
  void place();
};

class KvCache;

// One sequence's slice of a forward batch: n new tokens appended to cache sequence `seq`.
struct SeqInput {
  int32_t seq = -1;
  const int32_t* tokens = nullptr;
  int64_t n = 0;
  bool want_logits = false;  // logits of the last of the n tokens
};

// Per-step counters of the MoE layers (which experts the batch touched), for the roofline.
struct ForwardStats {
  int64_t tokens = 0;
  int64_t expert_invocations = 0;   // sum over MoE layers of distinct experts touched
  double weight_bytes_read = 0;     // weights the step had to stream (touched experts only)
  double cache_bytes_read = 0;      // cached rows attention had to read
};

class Model {
 public:
  // Synthetic deterministic weights from `seed`, scaled so activations stay O(1) through every
  // layer. Throws UsageError when the config is not MLA or the weights would not fit memory.
  static std::unique_ptr<Model> synthetic(const ModelConfig& cfg, uint64_t seed,
                                          kernels::DType storage = kernels::DType::kBF16);
  // Loads Hugging Face DeepSeek-V3 tensor names from one .safetensors file, or every
  // *.safetensors file of a folder. UsageError naming the file and tensor on any problem.
  static std::unique_ptr<Model> from_safetensors(const ModelConfig& cfg, const std::string& path,
                                                 kernels::DType storage = kernels::DType::kBF16);
  // Writes the weights with Hugging Face names (bf16 or fp32), one file.
  void save_safetensors(const std::string& path, kernels::DType dtype) const;

  Model(const ModelConfig& cfg, ModelWeights w);
  ~Model();

  const ModelConfig& config() const { return cfg_; }
  const ModelWeights& weights() const { return w_; }
  int64_t vocab() const { return cfg_.vocab_size; }
  int64_t hidden() const { return cfg_.hidden_size; }
  // Bytes of all weights / of the weights one token touches (dense part + top-k + shared).
  double weight_bytes() const;
  double active_weight_bytes_per_token() const;
  // Weights every decode step reads regardless of routing (all but routed experts, embedding).
  double fixed_weight_bytes() const;
  double expert_bytes() const;  // one routed expert
  // RoPE inverse frequencies (YaRN-blended, [rope/2]) and the softmax scale attention uses.
  const std::vector<float>& rope_inv_freq() const { return inv_freq_; }
  float softmax_scale() const { return softmax_scale_; }

  // Runs the batch: appends each input's tokens to its cache sequence, writes their K/V rows,
  // attends causally, and writes logits [count(want_logits), vocab] in input order.
  void forward(const std::vector<SeqInput>& batch, KvCache& cache, std::vector<float>& logits,
               ForwardStats* stats = nullptr);

 private:
  struct Scratch;
  ModelConfig cfg_;
  ModelWeights w_;
  std::vector<float> inv_freq_;
  float softmax_scale_ = 1.0f;
  std::unique_ptr<Scratch> s_;
};

// The routing gate of a config's MoE layers (DeepSeek-V3: sigmoid, noaux_tc, routed scaling).
kernels::GateConfig moe_gate_config(const ModelConfig& cfg);

// MLA prefill decompresses K/V for as many heads at a time as fit this many bytes of scratch
// (at least one head; default 256 MiB), so long prompts on many-head shapes stay bounded.
// set_prefill_scratch_limit throws UsageError unless bytes > 0.
int64_t prefill_scratch_limit();
void set_prefill_scratch_limit(int64_t bytes);

// Bytes of weights a config would need in `storage` (to refuse models that cannot fit).
double estimate_weight_bytes(const ModelConfig& cfg, kernels::DType storage);

}  // namespace dsbench::engine
