// The engine's KV cache: one paged pool (kernels::PagedKvCache) under a byte budget. A block of
// block_size tokens holds every layer's rows, layer-major: [layer][token in block][row], so one
// layer's rows of a block are contiguous (a decode step reads a layer's cache as whole blocks, not
// as rows strided by all layers). Row layouts per layer:
//   mla_absorbed / mla_naive: [c_KV (kv_lora) | k_pe (rope)]
//   mha_cache: [K: heads x (nope + rope)][V: heads x v]  (kernels' GQA layout, kv_heads = heads)
#pragma once

#include <cstdint>
#include <memory>

#include "dsbench/config.h"
#include "dsbench/engine/model.h"
#include "dsbench/kernels/attention.h"
#include "dsbench/kernels/paged_cache.h"

namespace dsbench::engine {

struct KvCacheOptions {
  AttentionMode mode = AttentionMode::kMlaAbsorbed;
  kernels::DType dtype = kernels::DType::kBF16;  // kF32 or kBF16
  int64_t budget_bytes = int64_t(1) << 30;        // pool size; rounded down to whole blocks
  int block_size = kernels::kDefaultBlockSize;
};

// Elements of one layer's row for a mode.
int64_t cache_row_elems(const ModelConfig& cfg, AttentionMode mode);
// Bytes one token costs over all layers.
int64_t cache_bytes_per_token(const ModelConfig& cfg, AttentionMode mode, kernels::DType dtype);

class KvCache {
 public:
  // Throws UsageError when the budget holds no block.
  KvCache(const ModelConfig& cfg, KvCacheOptions opts);

  AttentionMode mode() const { return opts_.mode; }
  kernels::DType dtype() const { return opts_.dtype; }
  int block_size() const { return opts_.block_size; }
  int64_t layers() const { return layers_; }
  int64_t row_elems() const { return row_elems_; }  // per layer
  int64_t budget_bytes() const { return opts_.budget_bytes; }
  kernels::PagedKvCache& pool() { return pool_; }
  const kernels::PagedKvCache& pool() const { return pool_; }

  int64_t blocks_for_tokens(int64_t tokens) const {
    return (tokens + opts_.block_size - 1) / opts_.block_size;
  }
  // Layer l's element (token row) pointer for a sequence position.
  void* row(int32_t seq, int64_t pos, int64_t layer);
  // A PagedView of layer l's rows starting `elem_offset` elements into the row.
  kernels::PagedView view(int64_t layer, int64_t elem_offset, int64_t head_stride) const;

 private:
  KvCacheOptions opts_;
  int64_t layers_ = 0, row_elems_ = 0;
  kernels::PagedKvCache pool_;
};

}  // namespace dsbench::engine
