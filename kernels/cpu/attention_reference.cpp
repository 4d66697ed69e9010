// Argument validation, work (bytes/FLOPs) accounting and float64 references of decode attention.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention_internal.h"

namespace dsbench::kernels {

namespace {

[[noreturn]] void fail(const char* kernel, const std::string& what) {
  throw std::invalid_argument(std::string(kernel) + ": " + what);
}

void check_pos(const char* k, const char* field, int64_t v) {
  if (v <= 0) fail(k, std::string(field) + " must be > 0 (got " + std::to_string(v) + ")");
}

void check_ptr(const char* k, const char* field, const void* p) {
  if (!p) fail(k, std::string(field) + " is null");
}

void check_view(const char* k, const char* field, const PagedView& v, bool heads) {
  check_ptr(k, (std::string(field) + ".base").c_str(), v.base);
  if (v.dtype != DType::kF32 && v.dtype != DType::kBF16)
    fail(k, std::string(field) + ".dtype " + dtype_name(v.dtype) + " is not supported (fp32, bf16)");
  check_pos(k, (std::string(field) + ".block_stride").c_str(), v.block_stride);
  check_pos(k, (std::string(field) + ".token_stride").c_str(), v.token_stride);
  if (heads && v.head_stride < 0) fail(k, std::string(field) + ".head_stride must be >= 0");
  if (v.lanes != 0 && v.lanes != kKeyLanes)
    fail(k, std::string(field) + ".lanes must be 0 or " + std::to_string(kKeyLanes) + " (got " +
                std::to_string(v.lanes) + ")");
}

// A lanes K layout: bf16, whole lane groups per block, pairs of dims, rows of head_dim.
void check_lanes(const char* k, const std::string& f, const PagedView& v, int block_size, int row) {
  if (v.lanes == 0) return;
  if (v.dtype != DType::kBF16)
    fail(k, f + ".lanes needs a bf16 cache (" + f + ".dtype is " + std::string(dtype_name(v.dtype)) + ")");
  if (block_size % v.lanes)
    fail(k, f + ".lanes = " + std::to_string(v.lanes) + " needs seqs.block_size to be a multiple of it (got " +
                std::to_string(block_size) + ")");
  if (row % 2) fail(k, f + ".lanes needs an even row length (got " + std::to_string(row) + ")");
  if (v.token_stride != row)
    fail(k, f + ".lanes needs " + f + ".token_stride = the row length " + std::to_string(row) +
                " (the lane groups' row; got " + std::to_string(v.token_stride) + ")");
}

void check_batch(const char* k, const DecodeBatch& s) {
  check_pos(k, "seqs.batch", s.batch);
  check_pos(k, "seqs.block_size", s.block_size);
  check_pos(k, "seqs.max_blocks_per_seq", s.max_blocks_per_seq);
  check_ptr(k, "seqs.block_table", s.block_table);
  check_ptr(k, "seqs.seq_lens", s.seq_lens);
  const int64_t cap = int64_t(s.max_blocks_per_seq) * s.block_size;
  for (int b = 0; b < s.batch; ++b) {
    const int64_t len = s.seq_lens[b];
    if (len < 1 || len > cap)
      fail(k, "seqs.seq_lens[" + std::to_string(b) + "] = " + std::to_string(len) +
                  " outside [1, max_blocks_per_seq*block_size = " + std::to_string(cap) + "]");
    const int64_t nb = (len + s.block_size - 1) / s.block_size;
    for (int64_t j = 0; j < nb; ++j) {
      const int32_t id = s.block_table[int64_t(b) * s.max_blocks_per_seq + j];
      if (id < 0 || (s.num_pool_blocks > 0 && id >= s.num_pool_blocks))
        fail(k, "seqs.block_table[" + std::to_string(b) + "][" + std::to_string(j) + "] = " +
                    std::to_string(id) + " is not a block of the pool");
    }
  }
}

double sum_lens(const DecodeBatch& s) {
  double t = 0;
  for (int b = 0; b < s.batch; ++b) t += s.seq_lens[b];
  return t;
}

// Reads element i of (block, slot, head) as double.
double elem(const PagedView& v, int32_t block, int slot, int head, int i) {
  const int64_t off = paged_elem_offset(v, block, slot, head, i);
  if (v.dtype == DType::kF32) return static_cast<const float*>(v.base)[off];
  return bf16::to_float(static_cast<const uint16_t*>(v.base)[off]);
}

// Softmax-weighted sum in double: out[d] = sum_t softmax(scores)[t] * val(t, d).
template <class Val>
void attend(const std::vector<double>& scores, int dim, Val val, double* out) {
  const double mx = *std::max_element(scores.begin(), scores.end());
  double denom = 0;
  std::vector<double> acc(size_t(dim), 0.0);
  for (size_t t = 0; t < scores.size(); ++t) {
    const double w = std::exp(scores[t] - mx);
    denom += w;
    for (int d = 0; d < dim; ++d) acc[size_t(d)] += w * val(int64_t(t), d);
  }
  for (int d = 0; d < dim; ++d) out[d] = acc[size_t(d)] / denom;
}

}  // namespace

void validate(const GqaDecodeArgs& a) {
  const char* k = "decode_attention_gqa";
  check_batch(k, a.seqs);
  check_pos(k, "q_heads", a.q_heads);
  check_pos(k, "kv_heads", a.kv_heads);
  check_pos(k, "head_dim", a.head_dim);
  check_pos(k, "v_head_dim", a.v_head_dim);
  if (a.q_heads % a.kv_heads)
    fail(k, "q_heads (" + std::to_string(a.q_heads) + ") is not a multiple of kv_heads (" +
                std::to_string(a.kv_heads) + ")");
  check_ptr(k, "q", a.q);
  check_ptr(k, "out", a.out);
  check_view(k, "k", a.k, true);
  check_view(k, "v", a.v, true);
  if (a.kv_heads > 1 && (a.k.head_stride == 0 || a.v.head_stride == 0))
    fail(k, "k/v head_stride must be > 0 with several kv heads");
  check_lanes(k, "k", a.k, a.seqs.block_size, a.head_dim);
  if (a.v.lanes) fail(k, "v.lanes must be 0: only K has a lanes layout");
  if (!std::isfinite(a.scale)) fail(k, "scale is not finite");
}

void validate(const MlaDecodeArgs& a) {
  const char* k = "decode_attention_mla";
  check_batch(k, a.seqs);
  check_pos(k, "heads", a.heads);
  check_pos(k, "kv_lora_rank", a.kv_lora_rank);
  check_pos(k, "qk_nope_head_dim", a.qk_nope_head_dim);
  check_pos(k, "qk_rope_head_dim", a.qk_rope_head_dim);
  check_pos(k, "v_head_dim", a.v_head_dim);
  if (!a.q_latent) {
    check_ptr(k, "q_nope", a.q_nope);
    check_ptr(k, "q_pe", a.q_pe);
    check_ptr(k, "w_uk", a.w_uk);
  }
  if (!a.out_latent) {
    check_ptr(k, "w_uv", a.w_uv);
    check_ptr(k, "out", a.out);
  }
  check_view(k, "latent", a.latent, false);
  if (a.latent.token_stride < int64_t(a.kv_lora_rank) + a.qk_rope_head_dim)
    fail(k, "latent.token_stride is smaller than kv_lora_rank + qk_rope_head_dim");
  if (a.latent.lanes) {
    // Lane groups of whole latent rows: V (c_KV) is the first kv_lora_rank dims, read as pairs.
    check_lanes(k, "latent", a.latent, a.seqs.block_size, a.kv_lora_rank + a.qk_rope_head_dim);
    if (a.kv_lora_rank % 2)
      fail(k, "latent.lanes needs an even kv_lora_rank (got " + std::to_string(a.kv_lora_rank) + ")");
  }
  if (!std::isfinite(a.scale)) fail(k, "scale is not finite");
}

AttentionCost decode_attention_gqa_cost(const GqaDecodeArgs& a) {
  const double T = sum_lens(a.seqs), B = a.seqs.batch;
  AttentionCost c;
  c.cache_bytes = T * a.kv_heads * (double(a.head_dim) * dtype_bytes(a.k.dtype) +
                                    double(a.v_head_dim) * dtype_bytes(a.v.dtype));
  c.other_bytes = 4.0 * B * a.q_heads * (a.head_dim + a.v_head_dim);
  c.flops = 2.0 * T * a.q_heads * (a.head_dim + a.v_head_dim);
  return c;
}

static AttentionCost mla_common_cost(const MlaDecodeArgs& a) {
  const double T = sum_lens(a.seqs), B = a.seqs.batch, H = a.heads;
  AttentionCost c;
  c.cache_bytes = T * (double(a.kv_lora_rank) + a.qk_rope_head_dim) * dtype_bytes(a.latent.dtype);
  c.other_bytes = 4.0 * B * H * (a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim) +
                  4.0 * H * (a.qk_nope_head_dim + a.v_head_dim) * a.kv_lora_rank;
  return c;
}

AttentionCost decode_attention_mla_naive_cost(const MlaDecodeArgs& a) {
  AttentionCost c = mla_common_cost(a);
  const double T = sum_lens(a.seqs), H = a.heads, R = a.kv_lora_rank;
  c.flops = 2.0 * T * H *
            ((double(a.qk_nope_head_dim) + a.v_head_dim) * R +  // materialise K_nope and V
             a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim);
  return c;
}

AttentionCost decode_attention_mla_absorbed_cost(const MlaDecodeArgs& a) {
  AttentionCost c = mla_common_cost(a);
  const double T = sum_lens(a.seqs), B = a.seqs.batch, H = a.heads, R = a.kv_lora_rank;
  c.flops = 2.0 * T * H * (2 * R + a.qk_rope_head_dim) +              // scores and P . c_KV
            2.0 * B * H * (double(a.qk_nope_head_dim) + a.v_head_dim) * R;  // W_UK and W_UV
  return c;
}

void decode_attention_gqa_reference(const GqaDecodeArgs& a, double* out) {
  validate(a);
  const int Hq = a.q_heads, G = a.q_heads / a.kv_heads, D = a.head_dim, Dv = a.v_head_dim;
  const int bs = a.seqs.block_size;
  for (int b = 0; b < a.seqs.batch; ++b) {
    const int32_t* table = a.seqs.block_table + int64_t(b) * a.seqs.max_blocks_per_seq;
    const int64_t len = a.seqs.seq_lens[b];
    for (int h = 0; h < Hq; ++h) {
      const int hk = h / G;
      const float* q = a.q + (int64_t(b) * Hq + h) * D;
      std::vector<double> sc(static_cast<size_t>(len));
      for (int64_t t = 0; t < len; ++t) {
        double s = 0;
        for (int d = 0; d < D; ++d) s += double(q[d]) * elem(a.k, table[t / bs], int(t % bs), hk, d);
        sc[size_t(t)] = s * a.scale;
      }
      attend(sc, Dv,
             [&](int64_t t, int d) { return elem(a.v, table[t / bs], int(t % bs), hk, d); },
             out + (int64_t(b) * Hq + h) * Dv);
    }
  }
}

void decode_attention_mla_reference(const MlaDecodeArgs& a, double* out) {
  validate(a);
  const int H = a.heads, R = a.kv_lora_rank, P = a.qk_rope_head_dim, Dn = a.qk_nope_head_dim;
  const int V = a.v_head_dim, bs = a.seqs.block_size;
  for (int b = 0; b < a.seqs.batch; ++b) {
    const int32_t* table = a.seqs.block_table + int64_t(b) * a.seqs.max_blocks_per_seq;
    const int64_t len = a.seqs.seq_lens[b];
    // The latent rows of this sequence in double.
    std::vector<double> c(size_t(len) * (R + P));
    for (int64_t t = 0; t < len; ++t)
      for (int i = 0; i < R + P; ++i)
        c[size_t(t) * (R + P) + i] = elem(a.latent, table[t / bs], int(t % bs), 0, i);
    for (int h = 0; h < H; ++h) {
      // Naive definition: K_h = [W_UK_h c ; k_pe], V_h = W_UV_h c, then ordinary attention.
      const float* qn = a.q_nope + (int64_t(b) * H + h) * Dn;
      const float* qp = a.q_pe + (int64_t(b) * H + h) * P;
      std::vector<double> sc(static_cast<size_t>(len)), vals(static_cast<size_t>(len) * V);
      for (int64_t t = 0; t < len; ++t) {
        const double* ct = c.data() + size_t(t) * (R + P);
        double s = 0;
        for (int d = 0; d < Dn; ++d) {
          double kd = 0;
          const float* w = a.w_uk + (int64_t(h) * Dn + d) * R;
          for (int i = 0; i < R; ++i) kd += double(w[i]) * ct[i];
          s += double(qn[d]) * kd;
        }
        for (int i = 0; i < P; ++i) s += double(qp[i]) * ct[R + i];
        sc[size_t(t)] = s * a.scale;
        for (int e = 0; e < V; ++e) {
          double v = 0;
          const float* w = a.w_uv + (int64_t(h) * V + e) * R;
          for (int i = 0; i < R; ++i) v += double(w[i]) * ct[i];
          vals[size_t(t) * V + e] = v;
        }
      }
      attend(sc, V, [&](int64_t t, int e) { return vals[size_t(t) * V + e]; },
             out + (int64_t(b) * H + h) * V);
    }
  }
}

}  // namespace dsbench::kernels
