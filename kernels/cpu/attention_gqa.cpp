// CPU decode attention for MHA/GQA/MQA over a paged K/V cache. Memory-bound: every cached row is
// read once, straight from the pool (bf16 converted in registers), by small register-tiled GEMMs
// that serve all query heads of a kv head at once (scores, online softmax, then P.V).
#include <algorithm>
#include <cmath>

#include "attention_internal.h"

namespace dsbench::kernels {

using detail::WorkItem;

namespace {

// Tokens per sub-chunk (the unit of the online softmax): the cached rows of one sub-chunk stay in
// L2 between the score pass and the P.V pass. DeepSeek-V3-sized MHA rows are 80 KiB per token.
int sub_chunk_tokens(const GqaDecodeArgs& a) {
  const int64_t row = int64_t(a.kv_heads) *
                      (int64_t(a.head_dim) * dtype_bytes(a.k.dtype) +
                       int64_t(a.v_head_dim) * dtype_bytes(a.v.dtype));
  int64_t nt = std::clamp<int64_t>((384 << 10) / row, 4, a.seqs.block_size);
  if (nt > 8) nt = nt / 4 * 4;
  return int(nt);
}

// Attends tokens [it.t0, it.t1) of sequence it.b for every head; writes unnormalised partials.
void gqa_item(const GqaDecodeArgs& a, const WorkItem& it, int nt, float* m, float* l, float* acc,
              float* s) {
  const int Hq = a.q_heads, Hkv = a.kv_heads, G = Hq / Hkv, D = a.head_dim, Dv = a.v_head_dim;
  const int bs = a.seqs.block_size;
  const float* q = a.q + int64_t(it.b) * Hq * D;
  const int32_t* table = a.seqs.block_table + int64_t(it.b) * a.seqs.max_blocks_per_seq;
  detail::init_state(Hq, Dv, m, l, acc);
  auto extent = [&](int64_t t, int32_t* blk, int* s0) {
    *blk = table[t / bs];
    *s0 = int(t % bs);
    return int(std::min<int64_t>({int64_t(nt), bs - *s0, it.t1 - t}));
  };
  {
    int32_t blk;
    int s0;
    const int n = extent(it.t0, &blk, &s0);
    detail::prefetch_rows(a.k, blk, s0, n);
    detail::prefetch_rows(a.v, blk, s0, n);
  }
  for (int64_t t = it.t0; t < it.t1;) {
    int32_t blk;
    int s0;
    const int n = extent(t, &blk, &s0);
    if (t + n < it.t1) {  // the next sub-chunk streams in while this one is computed
      int32_t nblk;
      int ns0;
      const int nn = extent(t + n, &nblk, &ns0);
      detail::prefetch_rows(a.k, nblk, ns0, nn);
      detail::prefetch_rows(a.v, nblk, ns0, nn);
    }
    for (int hk = 0; hk < Hkv; ++hk)
      detail::gemm_nt(G, n, D, q + int64_t(hk) * G * D, D, detail::row_ptr(a.k, blk, s0, hk),
                      a.k.dtype, a.k.token_stride, s + int64_t(hk) * G * nt, nt, a.scale);
    detail::softmax_update(0, Hq, n, s, nt, m, l, acc, Dv);
    for (int hk = 0; hk < Hkv; ++hk)
      detail::gemm_nn_acc(G, Dv, n, s + int64_t(hk) * G * nt, nt, detail::row_ptr(a.v, blk, s0, hk),
                          a.v.dtype, a.v.token_stride, acc + int64_t(hk) * G * Dv, Dv);
    t += n;
  }
}

}  // namespace

void decode_attention_gqa(const GqaDecodeArgs& a) {
  validate(a);
  const int Hq = a.q_heads, Dv = a.v_head_dim;
  const int nt = sub_chunk_tokens(a);
  const std::vector<WorkItem> items = detail::plan_splits(a.seqs, 256);
  const int64_t n_items = int64_t(items.size());
  float* m = detail::workspace(0, size_t(n_items * Hq));
  float* l = detail::workspace(1, size_t(n_items * Hq));
  float* acc = detail::workspace(2, size_t(n_items * Hq * Dv));
#pragma omp parallel
  {
    float* s = detail::workspace(7, size_t(Hq) * size_t(nt));
#pragma omp for schedule(dynamic, 1)
    for (int64_t i = 0; i < n_items; ++i)
      gqa_item(a, items[size_t(i)], nt, m + i * Hq, l + i * Hq, acc + i * Hq * Dv, s);
  }
  detail::combine_splits(items, a.seqs.batch, Hq, Dv, m, l, acc, a.out);
}

}  // namespace dsbench::kernels
