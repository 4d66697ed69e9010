// Split-KV schedule shared by the CUDA decode-attention kernels: each sequence's context is cut
// into chunks of `chunk` tokens, one CTA per (chunk, head group, sequence), and a combine step
// merges the chunks by log-sum-exp. Chosen on the host from the host copy of seq_lens, once per
// batch (as FlashMLA's get_mla_metadata), so the kernels never read lengths back.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace dsbench::kernels::cuda {

struct DecodeSchedule {
  int chunk = 0;       // tokens per split, a multiple of 64
  int max_splits = 0;  // ceil(max seq_len / chunk)
  int max_seq_len = 0;
};

// Pure policy (testable without a device). About eight CTAs per SM in all (two resident, four
// waves): varlen chunks differ in length, and more, shorter chunks shrink the last wave's idle
// tail, while the combine's partials stay a few percent of the cache bytes at FlashMLA shapes.
// Chunks are at least 256 tokens so short contexts are not split needlessly.
inline DecodeSchedule decode_schedule_for_sms(const int32_t* host_seq_lens, int batch,
                                              int ctas_per_split, int num_sms) {
  if (!host_seq_lens || batch <= 0) throw std::invalid_argument("decode schedule: empty batch");
  if (ctas_per_split <= 0 || num_sms <= 0)
    throw std::invalid_argument("decode schedule: ctas_per_split and num_sms must be > 0");
  int64_t total = 0;
  int max_len = 0;
  for (int b = 0; b < batch; ++b) {
    if (host_seq_lens[b] <= 0) throw std::invalid_argument("decode schedule: seq_lens[b] <= 0");
    total += host_seq_lens[b];
    max_len = std::max(max_len, int(host_seq_lens[b]));
  }
  const int64_t target = int64_t(num_sms) * 8;
  const int64_t slots = int64_t(batch) * ctas_per_split;
  const int64_t per_seq = std::max<int64_t>(1, (target + slots - 1) / slots);
  const int64_t mean = (total + batch - 1) / batch;
  int64_t chunk = std::max<int64_t>((mean + per_seq - 1) / per_seq, 256);
  chunk = (chunk + 63) / 64 * 64;
  DecodeSchedule s;
  s.chunk = int(chunk);
  s.max_seq_len = max_len;
  s.max_splits = int((max_len + chunk - 1) / chunk);
  return s;
}

// The same on the current device (its SM count).
DecodeSchedule make_decode_schedule(const int32_t* host_seq_lens, int batch, int ctas_per_split);

}  // namespace dsbench::kernels::cuda
