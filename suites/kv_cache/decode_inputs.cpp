// Seeded random decode-attention inputs over a paged cache with scattered blocks.
#include "kv_cache/decode_inputs.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

namespace dsbench::suites {

using kernels::DType;

namespace {

// splitmix64: a fast seeded generator, so multi-GiB caches fill in about a second.
inline uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
// Uniform in [-1, 1).
inline float unit(uint64_t seed, uint64_t i) {
  return float(int64_t(mix(seed ^ mix(i)) >> 40) - (int64_t(1) << 23)) / float(1 << 23);
}

void fill_floats(std::vector<float>& v, size_t n, uint64_t seed, float scale) {
  v.resize(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * unit(seed, i);
}

int64_t blocks_for(const std::vector<int32_t>& lens, int block_size) {
  int64_t n = 0;
  for (int32_t l : lens) n += (int64_t(l) + block_size - 1) / block_size;
  return n;
}

int max_blocks_for(const std::vector<int32_t>& lens, int block_size) {
  int64_t m = 1;
  for (int32_t l : lens) m = std::max<int64_t>(m, (int64_t(l) + block_size - 1) / block_size);
  return int(m);
}

}  // namespace

int64_t gqa_row_bytes(const GqaShape& s, DType dt) {
  return kernels::gqa_row_elems(s.kv_heads, s.head_dim, s.v_head_dim) * kernels::dtype_bytes(dt);
}
int64_t mla_row_bytes(const MlaShape& s, DType dt) {
  return (int64_t(s.kv_lora_rank) + s.qk_rope_head_dim) * kernels::dtype_bytes(dt);
}

double DecodeInputs::gqa_footprint(const GqaShape& shape, DType dt,
                                   const std::vector<int32_t>& lens, int block_size, int copies) {
  return double(blocks_for(lens, block_size)) * copies * block_size * double(gqa_row_bytes(shape, dt));
}
double DecodeInputs::mla_footprint(const MlaShape& shape, DType dt,
                                   const std::vector<int32_t>& lens, int block_size, int copies) {
  const double weights = 4.0 * shape.heads * (shape.qk_nope_head_dim + shape.v_head_dim) *
                         double(shape.kv_lora_rank) * 3;  // w_uk, w_uv and the naive panels
  return double(blocks_for(lens, block_size)) * copies * block_size *
             double(mla_row_bytes(shape, dt)) + weights;
}

void DecodeInputs::build_tables(const std::vector<int32_t>& lens, int copies, uint64_t seed) {
  batch_ = int(lens.size());
  copies_ = copies;
  seq_lens_ = lens;
  const int bs = cache_.block_size();
  max_blocks_ = max_blocks_for(lens, bs);
  // A scattered pool, as after a server has run a while: sequences own non-contiguous blocks.
  cache_.shuffle_free_list(seed);
  tables_.assign(size_t(copies) * batch_ * max_blocks_, -1);
  std::vector<int32_t> ids(static_cast<size_t>(batch_));
  for (int c = 0; c < copies; ++c) {
    for (int b = 0; b < batch_; ++b) {
      ids[size_t(b)] = cache_.add_sequence();
      cache_.append_tokens(ids[size_t(b)], lens[size_t(b)]);
    }
    std::vector<int32_t> lens_out(static_cast<size_t>(batch_));
    cache_.fill_tables(ids.data(), batch_, max_blocks_,
                       tables_.data() + size_t(c) * batch_ * max_blocks_, lens_out.data());
  }
}

void DecodeInputs::fill_cache(DType dt, uint64_t seed) {
  dtype_ = dt;
  const int64_t elems_per_block = cache_.block_bytes() / kernels::dtype_bytes(dt);
  const int64_t nb = cache_.num_blocks();
  uint8_t* base = cache_.data();
  // Values k / 32768 for 16-bit k, four from each splitmix64 output, made in pieces of 4,096 so
  // that both passes vectorise. A bf16 cache holds the rounding of the fp32 cache's values for
  // the same seed (tests compare the two). 16 bits are more than bf16's 8-bit mantissa keeps.
  // Two outputs per value made filling, with the first touch of the pages, about half of a
  // kv_cache run's time.
  constexpr int64_t kPiece = 4096;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < nb; ++blk) {
    const uint64_t s = mix(seed ^ uint64_t(blk) * 0x100000001b3ull);
    uint64_t words[kPiece / 4];
    int16_t r[kPiece];
    uint8_t* block = base + blk * cache_.block_bytes();
    for (int64_t i0 = 0; i0 < elems_per_block; i0 += kPiece) {
      const int64_t n = std::min(kPiece, elems_per_block - i0);
      for (int64_t w = 0; w < kPiece / 4; ++w) words[w] = mix(s + uint64_t(i0 / 4 + w));
      std::memcpy(r, words, sizeof words);
      constexpr float kScale = 1.0f / 32768.0f;
      if (dt == DType::kF32) {
        float* p = reinterpret_cast<float*>(block) + i0;
        for (int64_t i = 0; i < n; ++i) p[i] = float(r[i]) * kScale;
      } else {
        uint16_t* p = reinterpret_cast<uint16_t*>(block) + i0;
        for (int64_t i = 0; i < n; ++i) p[i] = kernels::bf16::from_float(float(r[i]) * kScale);
      }
    }
  }
}

DecodeInputs DecodeInputs::make_gqa(const GqaShape& shape, DType dt,
                                    const std::vector<int32_t>& lens, int block_size, int copies,
                                    uint64_t seed) {
  const int64_t blocks = blocks_for(lens, block_size) * copies;
  DecodeInputs in(kernels::PagedKvCache(blocks, gqa_row_bytes(shape, dt), block_size));
  in.gqa_ = shape;
  in.build_tables(lens, copies, seed);
  in.fill_cache(dt, seed + 1);
  fill_floats(in.q_, size_t(in.batch_) * shape.q_heads * shape.head_dim, seed + 2, 1.0f);
  in.out_.assign(size_t(in.batch_) * shape.q_heads * shape.v_head_dim, NAN);
  in.scale_ = 1.0f / std::sqrt(float(shape.head_dim));
  return in;
}

DecodeInputs DecodeInputs::make_mla(const MlaShape& shape, DType dt,
                                    const std::vector<int32_t>& lens, int block_size, int copies,
                                    uint64_t seed) {
  const int64_t blocks = blocks_for(lens, block_size) * copies;
  DecodeInputs in(kernels::PagedKvCache(blocks, mla_row_bytes(shape, dt), block_size));
  in.mla_ = shape;
  in.build_tables(lens, copies, seed);
  in.fill_cache(dt, seed + 1);
  const size_t BH = size_t(in.batch_) * shape.heads;
  fill_floats(in.q_, BH * shape.qk_nope_head_dim, seed + 2, 1.0f);
  fill_floats(in.q_pe_, BH * shape.qk_rope_head_dim, seed + 3, 1.0f);
  // Scaled so the materialised K and V have values of order one.
  const float ws = 1.0f / std::sqrt(float(shape.kv_lora_rank) / 3.0f);
  fill_floats(in.w_uk_, size_t(shape.heads) * shape.qk_nope_head_dim * shape.kv_lora_rank, seed + 4, ws);
  fill_floats(in.w_uv_, size_t(shape.heads) * shape.v_head_dim * shape.kv_lora_rank, seed + 5, ws);
  in.out_.assign(BH * shape.v_head_dim, NAN);
  in.scale_ = 1.0f / std::sqrt(float(shape.qk_nope_head_dim + shape.qk_rope_head_dim));
  return in;
}

bool DecodeInputs::gqa_key_lanes() const {
  return kernels::gqa_lanes_supported(dtype_, cache_.block_size(), gqa_.head_dim) &&
         gqa_.q_heads / gqa_.kv_heads < 16;
}

kernels::GqaDecodeArgs DecodeInputs::gqa_args(int copy) { return gqa_args(copy, gqa_key_lanes()); }

kernels::GqaDecodeArgs DecodeInputs::gqa_args(int copy, bool key_lanes) {
  kernels::GqaDecodeArgs a;
  const int bs = cache_.block_size();
  a.seqs = {batch_, bs, tables_.data() + size_t(copy % copies_) * batch_ * max_blocks_,
            max_blocks_, seq_lens_.data(), cache_.num_blocks()};
  a.q_heads = gqa_.q_heads;
  a.kv_heads = gqa_.kv_heads;
  a.head_dim = gqa_.head_dim;
  a.v_head_dim = gqa_.v_head_dim;
  a.q = q_.data();
  a.k = key_lanes ? kernels::gqa_k_view_lanes(cache_.data(), dtype_, bs, gqa_.kv_heads, gqa_.head_dim, gqa_.v_head_dim)
                  : kernels::gqa_k_view_blocked(cache_.data(), dtype_, bs, gqa_.kv_heads, gqa_.head_dim, gqa_.v_head_dim);
  a.v = kernels::gqa_v_view_blocked(cache_.data(), dtype_, bs, gqa_.kv_heads, gqa_.head_dim, gqa_.v_head_dim);
  a.out = out_.data();
  a.scale = scale_;
  return a;
}

bool DecodeInputs::mla_latent_lanes() const {
  return kernels::mla_lanes_supported(dtype_, cache_.block_size(), mla_.kv_lora_rank, mla_.qk_rope_head_dim) &&
         mla_.heads < 16;
}

kernels::MlaDecodeArgs DecodeInputs::mla_args(int copy, bool latent_lanes) {
  kernels::MlaDecodeArgs a;
  const int bs = cache_.block_size();
  a.seqs = {batch_, bs, tables_.data() + size_t(copy % copies_) * batch_ * max_blocks_,
            max_blocks_, seq_lens_.data(), cache_.num_blocks()};
  a.heads = mla_.heads;
  a.kv_lora_rank = mla_.kv_lora_rank;
  a.qk_nope_head_dim = mla_.qk_nope_head_dim;
  a.qk_rope_head_dim = mla_.qk_rope_head_dim;
  a.v_head_dim = mla_.v_head_dim;
  a.q_nope = q_.data();
  a.q_pe = q_pe_.data();
  a.latent = latent_lanes ? kernels::mla_latent_view_lanes(cache_.data(), dtype_, bs, mla_.kv_lora_rank,
                                                           mla_.qk_rope_head_dim)
                         : kernels::mla_latent_view(cache_.data(), dtype_, bs, mla_.kv_lora_rank, mla_.qk_rope_head_dim);
  a.w_uk = w_uk_.data();
  a.w_uv = w_uv_.data();
  a.out = out_.data();
  a.scale = scale_;
  return a;
}

}  // namespace dsbench::suites
