// Seeded random inputs for decode attention over a paged cache: a pool with scattered blocks,
// block tables (several independent copies to rotate through, so timed working sets exceed the
// last-level cache), queries, projection weights and outputs. Used by the suite and the tests.
#pragma once

#include <cstdint>
#include <vector>

#include "dsbench/kernels/attention.h"
#include "dsbench/kernels/dtype.h"
#include "dsbench/kernels/paged_cache.h"

namespace dsbench::suites {

struct GqaShape {
  int q_heads = 0, kv_heads = 0, head_dim = 0, v_head_dim = 0;
};
struct MlaShape {
  int heads = 0, kv_lora_rank = 0, qk_nope_head_dim = 0, qk_rope_head_dim = 0, v_head_dim = 0;
};

// Bytes of one cached row (one token, one layer).
int64_t gqa_row_bytes(const GqaShape& s, kernels::DType dt);
int64_t mla_row_bytes(const MlaShape& s, kernels::DType dt);

class DecodeInputs {
 public:
  // seq_lens: one entry per sequence. copies >= 1 independent caches share one pool.
  static DecodeInputs make_gqa(const GqaShape& shape, kernels::DType dt,
                               const std::vector<int32_t>& seq_lens, int block_size, int copies,
                               uint64_t seed);
  static DecodeInputs make_mla(const MlaShape& shape, kernels::DType dt,
                               const std::vector<int32_t>& seq_lens, int block_size, int copies,
                               uint64_t seed);
  // Bytes these inputs would take, without allocating (for memory caps).
  static double gqa_footprint(const GqaShape& shape, kernels::DType dt,
                              const std::vector<int32_t>& seq_lens, int block_size, int copies);
  static double mla_footprint(const MlaShape& shape, kernels::DType dt,
                              const std::vector<int32_t>& seq_lens, int block_size, int copies);

  int copies() const { return copies_; }
  // K in lane groups (gqa_k_view_lanes) where the CPU few-head path reads it: a bf16 cache,
  // fewer than 16 q heads per kv head, a block size that is a multiple of 32 and an even
  // head_dim; head-major blocked rows (vLLM's layout) otherwise. The pool bytes are the same.
  kernels::GqaDecodeArgs gqa_args(int copy);
  // The same inputs with K in the layout asked for (key_lanes needs kernels::gqa_lanes_supported).
  kernels::GqaDecodeArgs gqa_args(int copy, bool key_lanes);
  bool gqa_key_lanes() const;
  // Latent rows, or (latent_lanes) the same pool as lane groups: the CPU MLA-absorbed kernel's
  // layout where mla_latent_lanes() holds (bf16, fewer than 16 heads, block size a multiple of
  // 32, even dims). MLA-naive reads rows.
  kernels::MlaDecodeArgs mla_args(int copy, bool latent_lanes = false);
  bool mla_latent_lanes() const;
  kernels::PagedKvCache& cache() { return cache_; }
  std::vector<float>& out() { return out_; }
  std::vector<float>& q() { return q_; }

 private:
  DecodeInputs(kernels::PagedKvCache cache) : cache_(std::move(cache)) {}
  void build_tables(const std::vector<int32_t>& seq_lens, int copies, uint64_t seed);
  void fill_cache(kernels::DType dt, uint64_t seed);

  kernels::PagedKvCache cache_;
  kernels::DType dtype_ = kernels::DType::kBF16;
  GqaShape gqa_;
  MlaShape mla_;
  int batch_ = 0, copies_ = 1, max_blocks_ = 0;
  std::vector<int32_t> tables_;    // [copies][batch][max_blocks]
  std::vector<int32_t> seq_lens_;  // [batch]
  std::vector<float> q_, q_pe_, w_uk_, w_uv_, out_;
  float scale_ = 1.0f;
};

}  // namespace dsbench::suites
