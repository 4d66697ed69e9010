// The engine's paged KV cache: each block holds all layers' rows of its tokens, layer-major.
#include "dsbench/engine/kv_cache.h"

#include "dsbench/error.h"

namespace dsbench::engine {

int64_t cache_row_elems(const ModelConfig& c, AttentionMode mode) {
  if (mode == AttentionMode::kMhaCache)
    return kernels::gqa_row_elems(int(c.num_attention_heads), int(c.qk_nope_head_dim + c.qk_rope_head_dim),
                                  int(c.v_head_dim));
  return c.kv_lora_rank + c.qk_rope_head_dim;
}

int64_t cache_bytes_per_token(const ModelConfig& c, AttentionMode mode, kernels::DType dtype) {
  return c.num_hidden_layers * cache_row_elems(c, mode) * kernels::dtype_bytes(dtype);
}

namespace {
int64_t blocks_in_budget(const ModelConfig& c, const KvCacheOptions& o) {
  if (o.dtype != kernels::DType::kF32 && o.dtype != kernels::DType::kBF16)
    throw UsageError("kv cache dtype must be fp32 or bf16");
  if (o.block_size <= 0) throw UsageError("kv cache block_size must be > 0");
  const int64_t block = cache_bytes_per_token(c, o.mode, o.dtype) * o.block_size;
  const int64_t n = block > 0 ? o.budget_bytes / block : 0;
  if (n <= 0)
    throw UsageError("kv cache budget of " + std::to_string(o.budget_bytes) +
                     " bytes holds no block of " + std::to_string(block) + " bytes for model '" +
                     c.name + "' in mode " + to_string(o.mode));
  return n;
}
}  // namespace

KvCache::KvCache(const ModelConfig& cfg, KvCacheOptions opts)
    : opts_(opts),
      layers_(cfg.num_hidden_layers),
      row_elems_(cache_row_elems(cfg, opts.mode)),
      pool_(blocks_in_budget(cfg, opts), cache_bytes_per_token(cfg, opts.mode, opts.dtype), opts.block_size) {}

void* KvCache::row(int32_t seq, int64_t pos, int64_t layer) {
  // token_row checks pos; the block starts (pos % block_size) pool rows before it.
  const int64_t bs = opts_.block_size, in_block = pos % bs, esz = kernels::dtype_bytes(opts_.dtype);
  uint8_t* block = pool_.token_row(seq, pos) - in_block * layers_ * row_elems_ * esz;
  return block + (layer * bs + in_block) * row_elems_ * esz;
}

kernels::PagedView KvCache::view(int64_t layer, int64_t elem_offset, int64_t head_stride) const {
  kernels::PagedView v;
  v.base = pool_.data() + (layer * opts_.block_size * row_elems_ + elem_offset) * kernels::dtype_bytes(opts_.dtype);
  v.dtype = opts_.dtype;
  v.token_stride = row_elems_;
  v.block_stride = layers_ * row_elems_ * opts_.block_size;
  v.head_stride = head_stride;
  return v;
}

}  // namespace dsbench::engine
