// Paged KV cache: a pool of fixed-size blocks (block_size tokens x row_bytes each) with per-sequence
// block tables, as vLLM/FlashMLA page their caches. Its accounting is the measured bytes per token.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dsbench::kernels {

inline constexpr int kDefaultBlockSize = 64;

// One pool per layer (or per layer group): every token occupies one row of `row_bytes`
// (e.g. GQA: [K: kv_heads x head_dim][V: kv_heads x v_head_dim]; MLA-absorbed: [c_KV | k_pe]).
// Blocks are 64-byte aligned when row_bytes is a multiple of 64 / block_size allows; the pool
// itself is 64-byte aligned. Errors (exhausted pool, double free, bad ids) throw
// std::invalid_argument / std::runtime_error naming the problem; kernels know no harness types.
class PagedKvCache {
 public:
  // num_blocks > 0, block_size > 0, row_bytes > 0; memory is reserved but not touched (pages are
  // faulted in when first written).
  PagedKvCache(int64_t num_blocks, int64_t row_bytes, int block_size = kDefaultBlockSize);
  ~PagedKvCache();
  PagedKvCache(const PagedKvCache&) = delete;
  PagedKvCache& operator=(const PagedKvCache&) = delete;
  PagedKvCache(PagedKvCache&& other) noexcept;
  PagedKvCache& operator=(PagedKvCache&& other) noexcept;

  // ---- pool ----
  int block_size() const { return block_size_; }
  int64_t row_bytes() const { return row_bytes_; }
  int64_t block_bytes() const { return row_bytes_ * block_size_; }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t free_blocks() const { return static_cast<int64_t>(free_list_.size()); }
  int64_t used_blocks() const { return num_blocks_ - free_blocks(); }
  int64_t capacity_bytes() const { return num_blocks_ * block_bytes(); }
  // Bytes held by allocated blocks (what the cache costs now, padding of partial blocks included).
  int64_t bytes_allocated() const { return used_blocks() * block_bytes(); }
  // Tokens stored over all live sequences.
  int64_t tokens_cached() const { return tokens_cached_; }
  // bytes_allocated() / tokens_cached(): equals row_bytes() when every sequence fills whole
  // blocks; larger when partial blocks waste space. 0 when empty.
  double bytes_per_token() const;

  // Takes a block from the free list; throws std::runtime_error when the pool is exhausted.
  int32_t allocate_block();
  // Returns a block; throws std::invalid_argument on a bad id or a double free.
  void free_block(int32_t block);
  // Permutes the free list (deterministically from `seed`) so later allocations are scattered,
  // as in a long-running server; tests and benchmarks use it to avoid contiguous layouts.
  void shuffle_free_list(uint64_t seed);

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  uint8_t* block_data(int32_t block);
  const uint8_t* block_data(int32_t block) const;

  // ---- sequences ----
  // Creates an empty sequence and returns its id (ids are reused after free_sequence).
  int32_t add_sequence();
  // Grows a sequence by n tokens, allocating blocks as needed (all or nothing: on exhaustion the
  // sequence is unchanged and std::runtime_error is thrown).
  void append_tokens(int32_t seq, int64_t n);
  // Frees every block of the sequence and the id.
  void free_sequence(int32_t seq);
  int64_t num_sequences() const;
  int64_t seq_len(int32_t seq) const;
  const std::vector<int32_t>& seq_blocks(int32_t seq) const;
  // Row of token `pos` of a sequence (pos < seq_len).
  uint8_t* token_row(int32_t seq, int64_t pos);

  // Writes the kernels' inputs for `n` sequences: block_table [n, max_blocks] (unused entries -1)
  // and seq_lens [n]. Throws std::invalid_argument when a sequence needs more than max_blocks.
  void fill_tables(const int32_t* seqs, int n, int max_blocks, int32_t* block_table,
                   int32_t* seq_lens) const;

 private:
  struct Sequence {
    bool live = false;
    int64_t len = 0;
    std::vector<int32_t> blocks;
  };
  const Sequence& live_seq(int32_t seq) const;
  void release();

  int64_t num_blocks_ = 0;
  int64_t row_bytes_ = 0;
  int block_size_ = 0;
  uint8_t* data_ = nullptr;
  std::vector<int32_t> free_list_;   // back() is allocated next
  std::vector<uint8_t> block_used_;  // 1 while allocated
  std::vector<Sequence> seqs_;
  std::vector<int32_t> free_seq_ids_;
  int64_t tokens_cached_ = 0;
};

}  // namespace dsbench::kernels
