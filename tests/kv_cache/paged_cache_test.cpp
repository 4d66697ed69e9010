// Paged KV cache allocator: block accounting, per-sequence tables, bytes per token, bad ids.
#include <algorithm>
#include <set>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "dsbench/kernels/paged_cache.h"

namespace dsbench::kernels {
namespace {

TEST(PagedCache, AccountsBlocksAndBytesPerToken) {
  PagedKvCache c(16, 1152, 64);  // DeepSeek-V3 latent row in bf16
  EXPECT_EQ(c.block_bytes(), 1152 * 64);
  EXPECT_EQ(c.free_blocks(), 16);
  EXPECT_EQ(c.bytes_per_token(), 0.0);
  const int32_t a = c.add_sequence(), b = c.add_sequence();
  c.append_tokens(a, 128);  // exactly two blocks
  c.append_tokens(b, 64);
  EXPECT_EQ(c.used_blocks(), 3);
  EXPECT_EQ(c.tokens_cached(), 192);
  EXPECT_EQ(c.bytes_allocated(), 3 * 1152 * 64);
  EXPECT_DOUBLE_EQ(c.bytes_per_token(), 1152.0);  // whole blocks: exactly the row
  c.append_tokens(b, 1);                            // a partial block costs a whole block
  EXPECT_EQ(c.used_blocks(), 4);
  EXPECT_GT(c.bytes_per_token(), 1152.0);
  c.free_sequence(a);
  EXPECT_EQ(c.used_blocks(), 2);
  EXPECT_EQ(c.tokens_cached(), 65);
  EXPECT_EQ(c.num_sequences(), 1);
}

// Pools of 2 MiB and more come from the huge-page allocator: 2 MiB aligned (so the OS can back
// them with huge pages where it offers them), and every byte of the pool is writable.
TEST(PagedCache, LargePoolsAreHugePageAligned) {
  PagedKvCache big(64, 1152, 64);  // 4.5 MiB
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big.data()) % (uintptr_t(2) << 20), 0u);
  const size_t bytes = size_t(64) * 1152 * 64;
  std::fill(big.data(), big.data() + bytes, uint8_t(7));
  EXPECT_EQ(big.data()[bytes - 1], 7);
  PagedKvCache small(2, 320, 16);  // 10 KiB
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.data()) % 64, 0u);
}

TEST(PagedCache, TablesAreDistinctBlocksAndShuffled) {
  PagedKvCache c(64, 256, 16);
  c.shuffle_free_list(9);
  std::vector<int32_t> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(c.add_sequence());
    c.append_tokens(ids.back(), 100 + 50 * i);
  }
  const int max_blocks = 16;
  std::vector<int32_t> table(3 * max_blocks), lens(3);
  c.fill_tables(ids.data(), 3, max_blocks, table.data(), lens.data());
  std::set<int32_t> seen;
  bool contiguous = true;
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ(lens[s], 100 + 50 * s);
    const int nb = (lens[s] + 15) / 16;
    for (int j = 0; j < max_blocks; ++j) {
      const int32_t id = table[s * max_blocks + j];
      if (j >= nb) {
        EXPECT_EQ(id, -1);
        continue;
      }
      EXPECT_TRUE(seen.insert(id).second) << "block " << id << " shared";
      if (j > 0 && id != table[s * max_blocks + j - 1] + 1) contiguous = false;
    }
  }
  EXPECT_FALSE(contiguous);  // shuffled pool: scattered layout
  // Rows of different tokens do not alias.
  EXPECT_NE(c.token_row(ids[0], 0), c.token_row(ids[0], 16));
  EXPECT_EQ(c.token_row(ids[0], 17) - c.token_row(ids[0], 16), 256);
}

TEST(PagedCache, RejectsBadUse) {
  EXPECT_THROW(PagedKvCache(0, 64, 64), std::invalid_argument);
  EXPECT_THROW(PagedKvCache(4, 0, 64), std::invalid_argument);
  EXPECT_THROW(PagedKvCache(4, 64, 0), std::invalid_argument);
  PagedKvCache c(2, 64, 4);
  const int32_t s = c.add_sequence();
  EXPECT_THROW(c.append_tokens(s, 9), std::runtime_error);  // needs 3 blocks, the pool has 2
  EXPECT_EQ(c.seq_len(s), 0);                               // all or nothing
  EXPECT_EQ(c.free_blocks(), 2);
  const int32_t b = c.allocate_block();
  c.free_block(b);
  EXPECT_THROW(c.free_block(b), std::invalid_argument);  // double free
  EXPECT_THROW(c.free_block(7), std::invalid_argument);
  EXPECT_THROW(c.seq_len(99), std::invalid_argument);
  c.append_tokens(s, 8);
  EXPECT_THROW(c.allocate_block(), std::runtime_error);
  std::vector<int32_t> table(1), lens(1);
  EXPECT_THROW(c.fill_tables(&s, 1, 1, table.data(), lens.data()), std::invalid_argument);
  EXPECT_THROW(c.token_row(s, 8), std::invalid_argument);
}

}  // namespace
}  // namespace dsbench::kernels
