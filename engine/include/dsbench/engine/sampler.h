// Token sampling: greedy, temperature and top-p (nucleus), seeded per request so that the same
// seed gives the same tokens regardless of which other requests share the batch.
#pragma once

#include <cstdint>

namespace dsbench::engine {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy (argmax, ties to the lower token id)
  float top_p = 1.0f;        // keep the smallest set of tokens whose probability reaches top_p
  uint64_t seed = 0;         // per-request stream; token i of a request uses (seed, i)
};

// Picks a token from logits[vocab] (not modified). `index` is the position of this token in the
// request's output, so sampling does not depend on batch composition or step timing.
int32_t sample_token(const float* logits, int64_t vocab, const SamplingParams& p, uint64_t index);

}  // namespace dsbench::engine
