// The device engine: Model::forward's math on the GPU. Weights are uploaded row-major in their
// storage dtype; dense products run through kernels::cuda::gemm_xwt_cuda (cuBLAS), the per-head
// W_UK/W_UV products as strided-batched cuBLAS GEMMs over kv_b, routed experts through the CUDA
// gate, permute, grouped GEMM and a combine that adds into the residual. The latent cache lives
// on the device (one pool per layer, pages of block_size rows), its block tables on the host.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "dsbench/engine/cuda_model.h"
#include "dsbench/error.h"
#include "dsbench/kernels/cuda/check.h"
#include "dsbench/kernels/cuda/decode_schedule.h"
#include "dsbench/kernels/cuda/gemm.h"
#include "dsbench/kernels/cuda/memory.h"
#include "dsbench/kernels/cuda/mla_decode.h"
#include "dsbench/kernels/cuda/moe_gate.h"
#include "dsbench/kernels/cuda/moe_grouped_gemm.h"
#include "dsbench/kernels/cuda/moe_permute.h"
#include "dsbench/kernels/cuda_device.h"
#include "dsbench/trace.h"
#include "ops.h"

namespace dsbench::engine {
namespace kc = kernels::cuda;
using kernels::DType;

namespace {

// A weight matrix on the device: row-major [n, k] (torch Linear layout) in its storage dtype.
struct DevLinear {
  kc::DeviceBuffer buf;
  int64_t n = 0, k = 0;
  DType dtype = DType::kBF16;
  kernels::WeightView rows(int64_t r0, int64_t count) const {
    kernels::WeightView v;
    v.data = static_cast<const char*>(buf.get()) + r0 * k * kernels::dtype_bytes(dtype);
    v.dtype = dtype;
    v.n = count;
    v.k = k;
    v.ld = k;
    v.layout = kernels::WeightLayout::kRows;
    return v;
  }
  kernels::WeightView view() const { return rows(0, n); }
  double bytes() const { return double(n) * double(k) * kernels::dtype_bytes(dtype); }
};

// Uploads the row-major concatenation of `parts` (same k and dtype), unpacking kPanel16 panels.
DevLinear upload_rows(const std::vector<const Linear*>& parts, const std::string& what) {
  DevLinear d;
  if (parts.empty()) return d;
  d.k = parts[0]->k;
  d.dtype = parts[0]->dtype;
  if (d.dtype != DType::kF32 && d.dtype != DType::kBF16)
    throw Error("CUDA engine: " + what + ": weights must be fp32 or bf16");
  for (const Linear* l : parts) {
    if (l->k != d.k || l->dtype != d.dtype || l->n <= 0)
      throw Error("CUDA engine: " + what + ": parts differ in shape or dtype");
    d.n += l->n;
  }
  const size_t esz = size_t(kernels::dtype_bytes(d.dtype));
  std::vector<char> host(size_t(d.n * d.k) * esz);
  size_t at = 0;
  for (const Linear* l : parts) {
    const size_t count = size_t(l->n * l->k);
    char* dst = host.data() + at;
    if (l->dtype == DType::kF32) {
      if (size_t(l->stored_elems()) != count) throw Error("CUDA engine: " + what + ": fp32 storage size");
      std::memcpy(dst, l->f32_data(), count * 4);
    } else if (!l->packed) {
      if (size_t(l->stored_elems()) != count) throw Error("CUDA engine: " + what + ": bf16 storage size");
      std::memcpy(dst, l->bf16_data(), count * 2);
    } else {
      for (int64_t r = 0; r < l->n; ++r)
        for (int64_t c = 0; c < l->k; ++c) {
          const uint16_t v = kernels::panel16_at(l->bf16_data(), l->k, r, c);
          std::memcpy(dst + size_t(r * l->k + c) * 2, &v, 2);
        }
    }
    at += count * esz;
  }
  d.buf = kc::DeviceBuffer(host.size());
  kc::copy_to_device(d.buf.get(), host.data(), host.size());
  return d;
}

DevLinear upload_rows(const Linear& l, const std::string& what) {
  return upload_rows({&l}, what);
}

kc::DeviceBuffer upload_vec(const std::vector<float>& v, int64_t expect, const std::string& what) {
  if (int64_t(v.size()) != expect)
    throw Error("CUDA engine: " + what + " has " + std::to_string(v.size()) + " values, expected " +
                std::to_string(expect));
  return kc::upload(v);
}

struct DevLayer {
  kc::DeviceBuffer input_norm, post_attn_norm, q_a_norm, kv_a_norm;  // fp32
  bool q_lora = true;
  DevLinear q_a, q_b, q, kv_a, kv_b, o;
  bool moe = false;
  DevLinear dense_gu, dense_down;        // dense layers
  kc::DeviceBuffer router, router_bias;  // fp32 [experts, hidden], [experts] (may be empty)
  bool shared = false;
  DevLinear shared_gu, shared_down;
  DevLinear experts_gu, experts_down;  // stacked: [E * 2 * inter, hidden], [E * hidden, inter]
  int64_t expert_inter = 0;
  kc::MoePermutationDevice perm;  // this layer's routing of the current forward
};

struct SeqState {
  bool live = false;
  int64_t len = 0;
  std::vector<int32_t> blocks;
};

void* grow(kc::DeviceBuffer& b, size_t bytes) {
  if (b.bytes() < bytes) {
    b = kc::DeviceBuffer();  // free first
    b = kc::DeviceBuffer(std::max<size_t>(bytes, 256));
  }
  return b.get();
}

}  // namespace

struct CudaModel::Impl {
  ModelConfig cfg;
  CudaModelOptions opts;
  int64_t H = 0, V = 0, nh = 0, dn = 0, dr = 0, dv = 0, kvl = 0, qk = 0, row = 0, ql = 0;
  float eps = 1e-6f, scale = 1.0f;
  kernels::GateConfig gate;
  double fixed_weight_bytes = 0, expert_bytes = 0;  // as the CPU model counts them (stats)
  double weight_bytes = 0;
  int64_t max_mlp_inter = 0, max_expert_inter = 0;

  DevLinear embed, lm_head;
  kc::DeviceBuffer final_norm, inv_freq;
  std::vector<DevLayer> layers;

  // Cache: layer l's pool is [num_blocks, block_size, row] at pool + l * layer_elems elements.
  int64_t num_blocks = 0, layer_elems = 0;
  kc::DeviceBuffer pool;
  std::vector<int32_t> free_blocks;
  std::vector<SeqState> seqs;
  std::vector<int32_t> free_ids;

  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  kc::Workspace gemm_ws, mla_ws;
  // Activations, grown at the start of a forward while the stream is idle.
  kc::DeviceBuffer meta, x, h, qa, q, q16, kva, qlat, qlat16, ol, ol16, attn, gu, act,
      router_logits, ids, wts, xs, ys, h16, last, logits;

  ~Impl() {
    if (stream) cudaStreamSynchronize(stream);
    if (blas) cublasDestroy(blas);
    if (stream) cudaStreamDestroy(stream);
  }

  void gemm(const float* x_, int64_t m, int64_t ldx, const kernels::WeightView& w, float* y,
            int64_t ldy, bool accumulate) {
    kc::gemm_xwt_cuda(x_, m, ldx, w, y, ldy, accumulate, gemm_ws, stream);
  }
  // y += down(silu(gate(h)) * up(h)) for T rows, fp32 activations.
  void mlp(const DevLinear& gate_up, const DevLinear& down, const float* in, int64_t T, float* y) {
    const int64_t inter = down.k;
    gemm(in, T, H, gate_up.view(), gu.as<float>(), 2 * inter, false);
    cuda_ops::silu_mul(gu.get(), DType::kF32, T, inter, act.get(), DType::kF32, stream);
    gemm(act.as<float>(), T, inter, down.view(), y, H, true);
  }
  void* pool_layer(int64_t l) const {
    return static_cast<char*>(pool.get()) +
           size_t(l) * size_t(layer_elems) * size_t(kernels::dtype_bytes(opts.cache_dtype));
  }
  SeqState& seq(int32_t id, const char* what) {
    if (id < 0 || id >= int32_t(seqs.size()) || !seqs[size_t(id)].live)
      throw Error(std::string("CUDA engine: ") + what + ": unknown sequence " + std::to_string(id));
    return seqs[size_t(id)];
  }
  void forward(const std::vector<SeqInput>& batch, std::vector<float>& out, ForwardStats* stats);
  void moe(DevLayer& L, int64_t T, int64_t* expert_calls);
};

CudaModel::CudaModel(const Model& cpu, CudaModelOptions opts) {
  check(cpu.config(), opts);
  std::string why;
  if (!kernels::cuda_device_available(&why)) throw std::runtime_error("CUDA engine: " + why);
  impl_ = std::make_unique<Impl>();
  Impl& m = *impl_;
  const ModelConfig& c = cpu.config();
  m.cfg = c;
  m.opts = opts;
  m.H = c.hidden_size;
  m.V = c.vocab_size;
  m.nh = c.num_attention_heads;
  m.dn = c.qk_nope_head_dim;
  m.dr = c.qk_rope_head_dim;
  m.dv = c.v_head_dim;
  m.kvl = c.kv_lora_rank;
  m.qk = m.dn + m.dr;
  m.row = m.kvl + m.dr;
  m.eps = float(c.rms_norm_eps);
  m.scale = cpu.softmax_scale();
  m.gate = moe_gate_config(c);
  m.fixed_weight_bytes = cpu.fixed_weight_bytes();
  m.expert_bytes = cpu.expert_bytes();

  DSBENCH_KERNEL_CUDA_CHECK(cudaStreamCreate(&m.stream));
  DSBENCH_KERNEL_CUBLAS_CHECK(cublasCreate(&m.blas));
  DSBENCH_KERNEL_CUBLAS_CHECK(cublasSetStream(m.blas, m.stream));

  const ModelWeights& w = cpu.weights();
  if (w.embed.n != m.V || w.embed.k != m.H || w.lm_head.n != m.V || w.lm_head.k != m.H)
    throw Error("CUDA engine: embedding or lm_head shape does not match the config");
  m.embed = upload_rows(w.embed, "embed_tokens");
  m.lm_head = upload_rows(w.lm_head, "lm_head");
  m.final_norm = upload_vec(w.final_norm, m.H, "norm");
  if (int64_t(cpu.rope_inv_freq().size()) != m.dr / 2) throw Error("CUDA engine: rope frequencies");
  m.inv_freq = kc::upload(cpu.rope_inv_freq());
  m.weight_bytes = m.embed.bytes() + m.lm_head.bytes();

  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& lw = w.layers[l];
    const std::string at = "layer " + std::to_string(l) + " ";
    DevLayer L;
    L.input_norm = upload_vec(lw.input_norm, m.H, at + "input_layernorm");
    L.post_attn_norm = upload_vec(lw.post_attn_norm, m.H, at + "post_attention_layernorm");
    L.q_lora = lw.q_lora;
    if (lw.q_lora) {
      m.ql = lw.q_a.n;
      if (lw.q_a.k != m.H || lw.q_b.n != m.nh * m.qk || lw.q_b.k != m.ql)
        throw Error("CUDA engine: " + at + "q_a_proj/q_b_proj shapes do not match the config");
      L.q_a = upload_rows(lw.q_a, at + "q_a_proj");
      L.q_a_norm = upload_vec(lw.q_a_norm, m.ql, at + "q_a_layernorm");
      L.q_b = upload_rows(lw.q_b, at + "q_b_proj");
    } else {
      if (lw.q.n != m.nh * m.qk || lw.q.k != m.H)
        throw Error("CUDA engine: " + at + "q_proj shape does not match the config");
      L.q = upload_rows(lw.q, at + "q_proj");
    }
    if (lw.kv_a.n != m.row || lw.kv_a.k != m.H || lw.kv_b.n != m.nh * (m.dn + m.dv) ||
        lw.kv_b.k != m.kvl || lw.o.n != m.H || lw.o.k != m.nh * m.dv)
      throw Error("CUDA engine: " + at + "attention weight shapes do not match the config");
    L.kv_a = upload_rows(lw.kv_a, at + "kv_a_proj_with_mqa");
    L.kv_a_norm = upload_vec(lw.kv_a_norm, m.kvl, at + "kv_a_layernorm");
    L.kv_b = upload_rows(lw.kv_b, at + "kv_b_proj");
    L.o = upload_rows(lw.o, at + "o_proj");
    m.weight_bytes +=
        L.q_a.bytes() + L.q_b.bytes() + L.q.bytes() + L.kv_a.bytes() + L.kv_b.bytes() + L.o.bytes();
    L.moe = lw.moe;
    // A SwiGLU MLP (the dense FFN or the shared experts): gate_up [2*inter, hidden], down.
    auto upload_mlp = [&](const Expert& e, const std::string& name, DevLinear& gu, DevLinear& down) {
      gu = upload_rows(e.gate_up, at + name + ".gate_proj/up_proj");
      down = upload_rows(e.down, at + name + ".down_proj");
      if (gu.n != 2 * down.k || gu.k != m.H || down.n != m.H)
        throw Error("CUDA engine: " + at + name + " shapes do not match");
      m.max_mlp_inter = std::max(m.max_mlp_inter, down.k);
      m.weight_bytes += gu.bytes() + down.bytes();
    };
    if (!lw.moe) {
      upload_mlp(lw.dense, "mlp", L.dense_gu, L.dense_down);
    } else {
      const int64_t E = c.n_routed_experts;
      L.router = upload_vec(lw.router, E * m.H, at + "mlp.gate");
      if (!lw.router_bias.empty())
        L.router_bias = upload_vec(lw.router_bias, E, at + "e_score_correction_bias");
      L.shared = c.n_shared_experts > 0;
      if (L.shared) upload_mlp(lw.shared, "shared_experts", L.shared_gu, L.shared_down);
      if (int64_t(lw.experts.size()) != E)
        throw Error("CUDA engine: " + at + "routed expert count");
      std::vector<const Linear*> gus, downs;
      for (const Expert& e : lw.experts) {
        gus.push_back(&e.gate_up);
        downs.push_back(&e.down);
      }
      L.experts_gu = upload_rows(gus, at + "experts.gate_proj/up_proj");
      L.experts_down = upload_rows(downs, at + "experts.down_proj");
      L.expert_inter = lw.experts[0].down.k;
      if (L.experts_gu.n != E * 2 * L.expert_inter || L.experts_gu.k != m.H ||
          L.experts_down.n != E * m.H || L.experts_down.k != L.expert_inter)
        throw Error("CUDA engine: " + at + "routed expert shapes do not match");
      m.max_expert_inter = std::max(m.max_expert_inter, L.expert_inter);
      m.weight_bytes +=
          double(lw.router.size()) * 4 + L.experts_gu.bytes() + L.experts_down.bytes();
    }
    m.layers.push_back(std::move(L));
  }

  const int bs = opts.block_size;
  m.num_blocks = (opts.cache_tokens + bs - 1) / bs;
  if (m.num_blocks > int64_t(INT32_MAX)) throw UsageError("CUDA engine: cache_tokens is too large");
  m.layer_elems = m.num_blocks * bs * m.row;
  const size_t pool_bytes = size_t(m.layers.size()) * size_t(m.layer_elems) *
                            size_t(kernels::dtype_bytes(opts.cache_dtype));
  m.pool = kc::DeviceBuffer(pool_bytes);
  kc::memset_device(m.pool.get(), 0, pool_bytes);
  m.free_blocks.resize(size_t(m.num_blocks));
  for (int64_t b = 0; b < m.num_blocks; ++b)
    m.free_blocks[size_t(b)] = int32_t(m.num_blocks - 1 - b);
  kc::device_synchronize();
}

CudaModel::~CudaModel() = default;

const ModelConfig& CudaModel::config() const {
  return impl_->cfg;
}
int64_t CudaModel::vocab() const {
  return impl_->V;
}
int64_t CudaModel::free_blocks() const {
  return int64_t(impl_->free_blocks.size());
}
int64_t CudaModel::num_blocks() const {
  return impl_->num_blocks;
}
double CudaModel::weight_bytes() const {
  return impl_->weight_bytes;
}
double CudaModel::cache_bytes() const {
  return double(impl_->pool.bytes());
}
void* CudaModel::stream() const {
  return impl_->stream;
}

int32_t CudaModel::add_sequence() {
  Impl& m = *impl_;
  int32_t id;
  if (!m.free_ids.empty()) {
    id = m.free_ids.back();
    m.free_ids.pop_back();
  } else {
    if (m.seqs.size() >= size_t(INT32_MAX)) throw Error("CUDA engine: too many sequences");
    id = int32_t(m.seqs.size());
    m.seqs.emplace_back();
  }
  m.seqs[size_t(id)] = SeqState{true, 0, {}};
  return id;
}

void CudaModel::free_sequence(int32_t id) {
  Impl& m = *impl_;
  SeqState& s = m.seq(id, "free_sequence");
  m.free_blocks.insert(m.free_blocks.end(), s.blocks.rbegin(), s.blocks.rend());
  s = SeqState{};
  m.free_ids.push_back(id);
}

int64_t CudaModel::seq_len(int32_t id) const {
  const Impl& m = *impl_;
  if (id < 0 || id >= int32_t(m.seqs.size()) || !m.seqs[size_t(id)].live)
    throw Error("CUDA engine: seq_len: unknown sequence " + std::to_string(id));
  return m.seqs[size_t(id)].len;
}

void CudaModel::forward(const std::vector<SeqInput>& batch, std::vector<float>& logits,
                        ForwardStats* stats) {
  impl_->forward(batch, logits, stats);
}

void CudaModel::Impl::forward(const std::vector<SeqInput>& batch, std::vector<float>& out,
                              ForwardStats* stats) {
  DSBENCH_TRACE_SCOPE("engine/forward");
  const int64_t B = int64_t(batch.size());
  const int bs = opts.block_size;
  // Check everything before touching the cache, then grow every sequence (all or nothing).
  std::vector<char> seen(seqs.size(), 0);
  int64_t need = 0, T = 0, n_logits = 0;
  for (int64_t i = 0; i < B; ++i) {
    const SeqInput& in = batch[size_t(i)];
    if (in.n <= 0 || !in.tokens)
      throw Error("forward: input " + std::to_string(i) + " has no tokens");
    for (int64_t t = 0; t < in.n; ++t)
      if (in.tokens[t] < 0 || in.tokens[t] >= V)
        throw UsageError("token id " + std::to_string(in.tokens[t]) + " out of range [0, " +
                         std::to_string(V) + ")");
    SeqState& s = seq(in.seq, "forward");
    if (seen[size_t(in.seq)])
      throw Error("forward: sequence " + std::to_string(in.seq) + " appears twice in one batch");
    seen[size_t(in.seq)] = 1;
    need += (s.len + in.n + bs - 1) / bs - int64_t(s.blocks.size());
    T += in.n;
    n_logits += in.want_logits ? 1 : 0;
  }
  if (need > int64_t(free_blocks.size()))
    throw Error("kv cache: " + std::to_string(need) + " blocks needed, " +
                std::to_string(free_blocks.size()) + " free (cache_tokens " +
                std::to_string(opts.cache_tokens) + ")");
  std::vector<int64_t> start(static_cast<size_t>(B)), first(static_cast<size_t>(B));
  int max_blocks = 1;
  bool all_decode = B > 0;
  double cache_read = 0;
  const double row_bytes = double(row) * kernels::dtype_bytes(opts.cache_dtype);
  for (int64_t i = 0, t = 0; i < B; ++i) {
    const SeqInput& in = batch[size_t(i)];
    SeqState& s = seqs[size_t(in.seq)];
    start[size_t(i)] = s.len;
    first[size_t(i)] = t;
    t += in.n;
    s.len += in.n;
    while (int64_t(s.blocks.size()) * bs < s.len) {
      s.blocks.push_back(free_blocks.back());
      free_blocks.pop_back();
    }
    max_blocks = std::max(max_blocks, int(s.blocks.size()));
    all_decode = all_decode && in.n == 1;
    cache_read += double(s.len) * row_bytes * double(layers.size());
  }
  if (B == 0 || T == 0) {
    out.clear();
    if (stats) *stats = ForwardStats{};
    return;
  }

  // Per-token and per-input metadata in one upload: ids, pos, slot [T], block table [B,
  // max_blocks], lens [B], logit rows [n_logits].
  std::vector<int32_t> hm;
  hm.reserve(size_t(3 * T + B * max_blocks + B + n_logits));
  for (const SeqInput& in : batch)
    for (int64_t j = 0; j < in.n; ++j) hm.push_back(in.tokens[j]);
  for (int64_t i = 0; i < B; ++i)
    for (int64_t j = 0; j < batch[size_t(i)].n; ++j) hm.push_back(int32_t(start[size_t(i)] + j));
  for (int64_t i = 0; i < B; ++i)
    for (int64_t j = 0; j < batch[size_t(i)].n; ++j) hm.push_back(int32_t(i));
  const size_t table_at = hm.size();
  for (int64_t i = 0; i < B; ++i) {
    const SeqState& s = seqs[size_t(batch[size_t(i)].seq)];
    for (int j = 0; j < max_blocks; ++j)
      hm.push_back(j < int(s.blocks.size()) ? s.blocks[size_t(j)] : 0);
  }
  const size_t lens_at = hm.size();
  std::vector<int32_t> lens(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i) {
    lens[size_t(i)] = int32_t(start[size_t(i)] + batch[size_t(i)].n);
    hm.push_back(lens[size_t(i)]);
  }
  const size_t rows_at = hm.size();
  for (int64_t i = 0; i < B; ++i)
    if (batch[size_t(i)].want_logits)
      hm.push_back(int32_t(first[size_t(i)] + batch[size_t(i)].n - 1));

  // Buffers for T tokens (the previous forward ended with a synchronisation: nothing is in flight).
  const int64_t E = cfg.n_routed_experts, K = cfg.num_experts_per_tok;
  const int64_t routed_rows = T * std::max<int64_t>(K, 1);
  grow(meta, hm.size() * 4);
  grow(x, size_t(T * H) * 4);
  grow(h, size_t(T * H) * 4);
  grow(qa, size_t(T * std::max<int64_t>(ql, 1)) * 4);
  grow(q, size_t(T * nh * qk) * 4);
  grow(q16, size_t(T * nh * qk) * 2);
  grow(kva, size_t(T * row) * 4);
  grow(qlat, size_t(T * nh * row) * 4);
  grow(qlat16, size_t(T * nh * row) * 2);
  grow(ol, size_t(T * nh * kvl) * 4);
  grow(ol16, size_t(T * nh * kvl) * 2);
  grow(attn, size_t(T * nh * dv) * 4);
  grow(gu, size_t(std::max(T * 2 * max_mlp_inter, routed_rows * 2 * max_expert_inter)) * 4);
  grow(act, size_t(std::max(T * max_mlp_inter, routed_rows * max_expert_inter)) * 4);
  grow(router_logits, size_t(T * std::max<int64_t>(E, 1)) * 4);
  grow(ids, size_t(routed_rows) * 4);
  grow(wts, size_t(routed_rows) * 4);
  grow(xs, size_t(routed_rows * H) * 4);
  grow(ys, size_t(routed_rows * H) * 4);
  grow(h16, size_t(T * H) * 2);
  grow(last, size_t(std::max<int64_t>(n_logits, 1) * H) * 4);
  grow(logits, size_t(std::max<int64_t>(n_logits, 1) * V) * 4);
  // gemm_xwt_cuda rounds x to bf16 in its workspace: size it for the widest product now, so it is
  // never reallocated under a product still in flight.
  gemm_ws.get(size_t(T * std::max({H, ql, nh * dv, max_mlp_inter})) * 2);
  DSBENCH_KERNEL_CUDA_CHECK(
      cudaMemcpyAsync(meta.get(), hm.data(), hm.size() * 4, cudaMemcpyHostToDevice, stream));
  const int32_t* d_ids = meta.as<int32_t>();
  const int32_t* d_pos = d_ids + T;
  const int32_t* d_slot = d_pos + T;
  const int32_t* d_table = d_ids + table_at;
  const int32_t* d_lens = d_ids + lens_at;
  const int32_t* d_rows = d_ids + rows_at;

  // The FlashMLA-shaped kernel serves pure decode batches at its shapes; everything else (other
  // shapes, prefill chunks, fp32 caches) goes through the generic latent attention.
  const bool flash_decode = all_decode && kvl == kc::kMlaLatentDim && dr == kc::kMlaRopeDim &&
                            opts.cache_dtype == DType::kBF16 && bs % 32 == 0;
  kc::DecodeSchedule sched;
  if (flash_decode)
    sched = kc::make_decode_schedule(lens.data(), int(B), kc::mla_decode_ctas_per_split(int(nh)));

  cuda_ops::embed(embed.buf.get(), embed.dtype, H, d_ids, T, x.as<float>(), stream);
  int64_t expert_calls = 0;
  const float one = 1.0f, zero = 0.0f;
  for (size_t l = 0; l < layers.size(); ++l) {
    DevLayer& L = layers[l];
    void* pool_l = pool_layer(int64_t(l));
    float* xp = x.as<float>();
    float* hp = h.as<float>();
    cuda_ops::rms_norm(xp, H, nullptr, T, H, L.input_norm.as<float>(), eps, hp, H, stream);
    // Projections: latent + rope key, and q through the q_lora bottleneck and its norm.
    gemm(hp, T, H, L.kv_a.view(), kva.as<float>(), row, false);
    if (L.q_lora) {
      gemm(hp, T, H, L.q_a.view(), qa.as<float>(), ql, false);
      cuda_ops::rms_norm(qa.as<float>(), ql, nullptr, T, ql, L.q_a_norm.as<float>(), eps,
                         qa.as<float>(), ql, stream);
      gemm(qa.as<float>(), T, ql, L.q_b.view(), q.as<float>(), nh * qk, false);
    } else {
      gemm(hp, T, H, L.q.view(), q.as<float>(), nh * qk, false);
    }
    cuda_ops::rms_norm(kva.as<float>(), row, nullptr, T, kvl, L.kv_a_norm.as<float>(), eps,
                       kva.as<float>(), row, stream);
    cuda_ops::RopeArgs ra;
    ra.q = q.as<float>();
    ra.qlat = qlat.as<float>();
    ra.kva = kva.as<float>();
    ra.pos = d_pos;
    ra.inv_freq = inv_freq.as<float>();
    ra.tokens = T;
    ra.heads = int(nh);
    ra.nope = int(dn);
    ra.rope = int(dr);
    ra.kv_lora = int(kvl);
    cuda_ops::rope(ra, stream);
    cuda_ops::cache_write(kva.as<float>(), T, row, d_pos, d_slot, d_table, max_blocks, bs, pool_l,
                          opts.cache_dtype, stream);

    // Absorption, per head h (column-major cuBLAS over row-major buffers):
    //   qlat[t, h, :kv_lora] = q_nope[t, h, :] . W_UK_h, W_UK_h = kv_b rows [h*(nope+v), +nope)
    //   as [nope, kv_lora]; column-major that is C (kv_lora x T) = A (kv_lora x nope) . B (nope x
    //   T) with A = W_UK_h read as (kv_lora x nope, ld kv_lora) and B = q_nope (ld heads*qk).
    const bool wb16 = L.kv_b.dtype == DType::kBF16;
    const cudaDataType wty = wb16 ? CUDA_R_16BF : CUDA_R_32F;
    const size_t wsz = size_t(kernels::dtype_bytes(L.kv_b.dtype));
    const void* qsrc = q.get();
    if (wb16) {
      kc::convert_f32_to_bf16(q.as<float>(), q16.get(), size_t(T * nh * qk), stream);
      qsrc = q16.get();
    }
    DSBENCH_KERNEL_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        blas, CUBLAS_OP_N, CUBLAS_OP_N, int(kvl), int(T), int(dn), &one, L.kv_b.buf.get(), wty,
        int(kvl), (long long)((dn + dv) * kvl), qsrc, wty, int(nh * qk), (long long)qk, &zero,
        qlat.get(), CUDA_R_32F, int(nh * row), (long long)row, int(nh), CUBLAS_COMPUTE_32F,
        CUBLAS_GEMM_DEFAULT));

    if (flash_decode) {
      // T == B: query t is input t's only token, so qlat and ol are [B, heads, ...] already.
      kc::convert_f32_to_bf16(qlat.as<float>(), qlat16.get(), size_t(T * nh * row), stream);
      kc::MlaLatentDecodeArgs a;
      a.seqs.batch = int(B);
      a.seqs.block_size = bs;
      a.seqs.block_table = d_table;
      a.seqs.max_blocks_per_seq = max_blocks;
      a.seqs.seq_lens = d_lens;
      a.seqs.num_pool_blocks = num_blocks;
      a.heads = int(nh);
      a.q = qlat16.get();
      a.cache = pool_l;
      a.out = ol.as<float>();
      a.scale = scale;
      a.stream = stream;
      kc::mla_latent_decode(a, sched, mla_ws);
    } else {
      cuda_ops::LatentAttentionArgs a;
      a.q = qlat.as<float>();
      a.pool = pool_l;
      a.dtype = opts.cache_dtype;
      a.block_table = d_table;
      a.max_blocks = max_blocks;
      a.block_size = bs;
      a.pos = d_pos;
      a.slot = d_slot;
      a.tokens = T;
      a.heads = int(nh);
      a.kv_lora = int(kvl);
      a.rope = int(dr);
      a.scale = scale;
      a.out = ol.as<float>();
      cuda_ops::latent_attention(a, stream);
    }

    // attn[t, h, :] = ol[t, h, :] . W_UV_h^T, W_UV_h = kv_b rows [h*(nope+v) + nope, +v) as
    // [v, kv_lora]; column-major C (v x T) = op_T(A) . B with A read as (kv_lora x v, ld kv_lora).
    const void* osrc = ol.get();
    if (wb16) {
      kc::convert_f32_to_bf16(ol.as<float>(), ol16.get(), size_t(T * nh * kvl), stream);
      osrc = ol16.get();
    }
    DSBENCH_KERNEL_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        blas, CUBLAS_OP_T, CUBLAS_OP_N, int(dv), int(T), int(kvl), &one,
        static_cast<const char*>(L.kv_b.buf.get()) + size_t(dn * kvl) * wsz, wty, int(kvl),
        (long long)((dn + dv) * kvl), osrc, wty, int(nh * kvl), (long long)kvl, &zero, attn.get(),
        CUDA_R_32F, int(nh * dv), (long long)dv, int(nh), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    gemm(attn.as<float>(), T, nh * dv, L.o.view(), xp, H, true);

    cuda_ops::rms_norm(xp, H, nullptr, T, H, L.post_attn_norm.as<float>(), eps, hp, H, stream);
    if (!L.moe) {
      mlp(L.dense_gu, L.dense_down, hp, T, xp);
      continue;
    }
    moe(L, T, &expert_calls);
  }

  if (n_logits > 0) {
    cuda_ops::rms_norm(x.as<float>(), H, d_rows, n_logits, H, final_norm.as<float>(), eps,
                       last.as<float>(), H, stream);
    gemm(last.as<float>(), n_logits, H, lm_head.view(), logits.as<float>(), V, false);
    out.resize(size_t(n_logits * V));
    DSBENCH_KERNEL_CUDA_CHECK(
        cudaMemcpyAsync(out.data(), logits.get(), out.size() * 4, cudaMemcpyDeviceToHost, stream));
  } else {
    out.clear();
  }
  DSBENCH_KERNEL_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (stats) {
    stats->tokens = T;
    stats->expert_invocations = expert_calls;
    stats->cache_bytes_read = cache_read;
    stats->weight_bytes_read = fixed_weight_bytes + double(expert_calls) * expert_bytes;
  }
}

// DeepSeekMoE on the device: fp32 router and gate, the shared expert added straight into the
// residual, routed experts over rows grouped by expert, weighted back into the residual.
void CudaModel::Impl::moe(DevLayer& L, int64_t T, int64_t* expert_calls) {
  const int64_t E = cfg.n_routed_experts, K = cfg.num_experts_per_tok, I = L.expert_inter;
  float* xp = x.as<float>();
  const float* hp = h.as<float>();
  kernels::WeightView rv;
  rv.data = L.router.get();
  rv.dtype = DType::kF32;
  rv.n = E;
  rv.k = H;
  rv.ld = H;
  gemm(hp, T, H, rv, router_logits.as<float>(), E, false);
  kc::moe_gate_cuda(gate, router_logits.as<float>(), T,
                    L.router_bias.bytes() ? L.router_bias.as<float>() : nullptr, ids.as<int32_t>(),
                    wts.as<float>(), stream);
  if (L.shared) mlp(L.shared_gu, L.shared_down, hp, T, xp);
  // The plan copies the per-expert offsets back (a synchronisation) for the GEMM launches.
  kc::moe_permute_plan_cuda(ids.as<int32_t>(), T, int(K), int(E), &L.perm, stream);
  const std::vector<int64_t>& off = L.perm.host_offsets;
  for (int64_t e = 0; e < E; ++e) *expert_calls += off[size_t(e + 1)] > off[size_t(e)] ? 1 : 0;
  const int64_t rows = L.perm.rows;
  if (rows <= 0) return;
  if (L.experts_gu.dtype == DType::kBF16) {
    // bf16 rows through the grouped GEMM (bf16 in and out, fp32 accumulation).
    kc::convert_f32_to_bf16(hp, h16.get(), size_t(T * H), stream);
    kc::moe_dispatch_cuda(L.perm, h16.get(), H * 2, xs.get(), stream);
    kc::moe_grouped_gemm_cuda(xs.get(), off, L.experts_gu.buf.get(), 2 * I, H, gu.get(), stream);
    cuda_ops::silu_mul(gu.get(), DType::kBF16, rows, I, act.get(), DType::kBF16, stream);
    kc::moe_grouped_gemm_cuda(act.get(), off, L.experts_down.buf.get(), H, I, ys.get(), stream);
    kc::moe_combine_add_cuda(L.perm, ys.get(), wts.as<float>(), H, DType::kBF16, xp, stream);
    return;
  }
  // fp32 weights: one fp32 GEMM per touched expert over its rows.
  kc::moe_dispatch_cuda(L.perm, hp, H * 4, xs.get(), stream);
  const float* xsp = xs.as<float>();
  float* gup = gu.as<float>();
  float* actp = act.as<float>();
  float* ysp = ys.as<float>();
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = off[size_t(e)], m = off[size_t(e + 1)] - r0;
    if (m > 0)
      gemm(xsp + r0 * H, m, H, L.experts_gu.rows(e * 2 * I, 2 * I), gup + r0 * 2 * I, 2 * I, false);
  }
  cuda_ops::silu_mul(gup, DType::kF32, rows, I, actp, DType::kF32, stream);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = off[size_t(e)], m = off[size_t(e + 1)] - r0;
    if (m > 0) gemm(actp + r0 * I, m, I, L.experts_down.rows(e * H, H), ysp + r0 * H, H, false);
  }
  kc::moe_combine_add_cuda(L.perm, ysp, wts.as<float>(), H, DType::kF32, xp, stream);
}

}  // namespace dsbench::engine
