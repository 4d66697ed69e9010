// Rotary position embedding with optional YaRN frequency scaling (DeepSeek-V3 reference
// `precompute_freqs_cis`), applied to interleaved pairs (x[2i], x[2i+1]) as DeepSeek's
// reference inference code does (complex multiply of view_as_complex pairs).
#pragma once

#include <cstdint>
#include <vector>

namespace dsbench::kernels {

struct RopeParams {
  int64_t dim = 0;          // rotated dims (qk_rope_head_dim), even
  double theta = 10000.0;
  bool yarn = false;        // apply YaRN interpolation with the fields below
  double factor = 1.0;
  int64_t original_max_position = 4096;
  double beta_fast = 32, beta_slow = 1;
};

// Inverse frequencies [dim/2] after YaRN blending (low dims extrapolate, high dims interpolate).
std::vector<float> rope_inv_freq(const RopeParams& p);

// Rotates `heads` vectors of `dim` values each (head h at x + h * head_stride) by position pos.
void rope_apply(float* x, int64_t heads, int64_t head_stride, int64_t dim, int64_t pos,
                const float* inv_freq);

// The two halves of rope_apply, for callers that rotate several vectors at one position (the
// engine rotates q and k of a token in every layer): cos and sin of pos * inv_freq[i] for
// i < dim / 2, then the rotation by them. rope_apply(x, ...) == rope_rotate(x, ..., cs, sn).
void rope_angles(int64_t dim, int64_t pos, const float* inv_freq, float* cs, float* sn);
void rope_rotate(float* x, int64_t heads, int64_t head_stride, int64_t dim, const float* cs,
                 const float* sn);

}  // namespace dsbench::kernels
