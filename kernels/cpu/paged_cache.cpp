// Block pool and per-sequence block tables of the paged KV cache (paged_cache.h).
#include "dsbench/kernels/paged_cache.h"

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

#include "dsbench/kernels/host_memory.h"

namespace dsbench::kernels {

PagedKvCache::PagedKvCache(int64_t num_blocks, int64_t row_bytes, int block_size)
    : num_blocks_(num_blocks), row_bytes_(row_bytes), block_size_(block_size) {
  if (num_blocks <= 0) throw std::invalid_argument("paged cache: num_blocks must be > 0");
  if (num_blocks > INT32_MAX) throw std::invalid_argument("paged cache: num_blocks exceeds int32");
  if (row_bytes <= 0) throw std::invalid_argument("paged cache: row_bytes must be > 0");
  if (block_size <= 0) throw std::invalid_argument("paged cache: block_size must be > 0");
  // Not touched here: the OS faults pages in on first write, so an oversized pool is cheap.
  // host_alloc aligns and rounds the size (huge pages where offered: decode streams the blocks).
  data_ = static_cast<uint8_t*>(host_alloc(size_t(num_blocks) * size_t(row_bytes) * size_t(block_size)));
  free_list_.resize(size_t(num_blocks));
  // back() is handed out first: ascending ids on a fresh pool.
  for (int64_t i = 0; i < num_blocks; ++i) free_list_[size_t(i)] = int32_t(num_blocks - 1 - i);
  block_used_.assign(size_t(num_blocks), 0);
}

PagedKvCache::~PagedKvCache() { release(); }

void PagedKvCache::release() {
  host_free(data_);
  data_ = nullptr;
}

PagedKvCache::PagedKvCache(PagedKvCache&& o) noexcept { *this = std::move(o); }

PagedKvCache& PagedKvCache::operator=(PagedKvCache&& o) noexcept {
  if (this != &o) {
    release();
    num_blocks_ = o.num_blocks_;
    row_bytes_ = o.row_bytes_;
    block_size_ = o.block_size_;
    data_ = std::exchange(o.data_, nullptr);
    free_list_ = std::move(o.free_list_);
    block_used_ = std::move(o.block_used_);
    seqs_ = std::move(o.seqs_);
    free_seq_ids_ = std::move(o.free_seq_ids_);
    tokens_cached_ = std::exchange(o.tokens_cached_, 0);
    o.num_blocks_ = 0;
  }
  return *this;
}

double PagedKvCache::bytes_per_token() const {
  return tokens_cached_ ? double(bytes_allocated()) / double(tokens_cached_) : 0.0;
}

int32_t PagedKvCache::allocate_block() {
  if (free_list_.empty())
    throw std::runtime_error("paged cache: out of blocks (" + std::to_string(num_blocks_) +
                             " blocks of " + std::to_string(block_bytes()) + " bytes)");
  int32_t b = free_list_.back();
  free_list_.pop_back();
  block_used_[size_t(b)] = 1;
  return b;
}

void PagedKvCache::free_block(int32_t block) {
  if (block < 0 || block >= num_blocks_)
    throw std::invalid_argument("paged cache: free of block id " + std::to_string(block) +
                                " outside [0, " + std::to_string(num_blocks_) + ")");
  if (!block_used_[size_t(block)])
    throw std::invalid_argument("paged cache: double free of block " + std::to_string(block));
  block_used_[size_t(block)] = 0;
  free_list_.push_back(block);
}

void PagedKvCache::shuffle_free_list(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::shuffle(free_list_.begin(), free_list_.end(), rng);
}

uint8_t* PagedKvCache::block_data(int32_t block) {
  if (block < 0 || block >= num_blocks_)
    throw std::invalid_argument("paged cache: block id " + std::to_string(block) + " out of range");
  return data_ + size_t(block) * size_t(block_bytes());
}

const uint8_t* PagedKvCache::block_data(int32_t block) const {
  return const_cast<PagedKvCache*>(this)->block_data(block);
}

int32_t PagedKvCache::add_sequence() {
  int32_t id;
  if (!free_seq_ids_.empty()) {
    id = free_seq_ids_.back();
    free_seq_ids_.pop_back();
  } else {
    id = int32_t(seqs_.size());
    seqs_.emplace_back();
  }
  seqs_[size_t(id)] = Sequence{true, 0, {}};
  return id;
}

const PagedKvCache::Sequence& PagedKvCache::live_seq(int32_t seq) const {
  if (seq < 0 || size_t(seq) >= seqs_.size() || !seqs_[size_t(seq)].live)
    throw std::invalid_argument("paged cache: unknown sequence id " + std::to_string(seq));
  return seqs_[size_t(seq)];
}

void PagedKvCache::append_tokens(int32_t seq, int64_t n) {
  live_seq(seq);
  if (n < 0) throw std::invalid_argument("paged cache: append of a negative token count");
  Sequence& s = seqs_[size_t(seq)];
  const int64_t need = (s.len + n + block_size_ - 1) / block_size_;
  const int64_t more = need - int64_t(s.blocks.size());
  if (more > free_blocks())
    throw std::runtime_error("paged cache: out of blocks (sequence needs " + std::to_string(more) +
                             " more, " + std::to_string(free_blocks()) + " free)");
  for (int64_t i = 0; i < more; ++i) s.blocks.push_back(allocate_block());
  s.len += n;
  tokens_cached_ += n;
}

void PagedKvCache::free_sequence(int32_t seq) {
  live_seq(seq);
  Sequence& s = seqs_[size_t(seq)];
  for (int32_t b : s.blocks) free_block(b);
  tokens_cached_ -= s.len;
  s = Sequence{};
  free_seq_ids_.push_back(seq);
}

int64_t PagedKvCache::num_sequences() const {
  return int64_t(seqs_.size() - free_seq_ids_.size());
}

int64_t PagedKvCache::seq_len(int32_t seq) const { return live_seq(seq).len; }

const std::vector<int32_t>& PagedKvCache::seq_blocks(int32_t seq) const {
  return live_seq(seq).blocks;
}

uint8_t* PagedKvCache::token_row(int32_t seq, int64_t pos) {
  const Sequence& s = live_seq(seq);
  if (pos < 0 || pos >= s.len)
    throw std::invalid_argument("paged cache: token " + std::to_string(pos) +
                                " outside sequence of length " + std::to_string(s.len));
  return block_data(s.blocks[size_t(pos / block_size_)]) + size_t(pos % block_size_) * size_t(row_bytes_);
}

void PagedKvCache::fill_tables(const int32_t* seqs, int n, int max_blocks, int32_t* block_table,
                               int32_t* seq_lens) const {
  if (n < 0 || max_blocks <= 0) throw std::invalid_argument("paged cache: bad table shape");
  for (int i = 0; i < n; ++i) {
    const Sequence& s = live_seq(seqs[i]);
    if (int64_t(s.blocks.size()) > max_blocks)
      throw std::invalid_argument("paged cache: sequence " + std::to_string(seqs[i]) + " needs " +
                                  std::to_string(s.blocks.size()) + " blocks, table has " +
                                  std::to_string(max_blocks));
    if (s.len > INT32_MAX) throw std::invalid_argument("paged cache: sequence longer than int32");
    int32_t* row = block_table + int64_t(i) * max_blocks;
    std::fill(row, row + max_blocks, -1);
    std::copy(s.blocks.begin(), s.blocks.end(), row);
    seq_lens[i] = int32_t(s.len);
  }
}

}  // namespace dsbench::kernels
