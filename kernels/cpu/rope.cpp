// RoPE with YaRN frequency blending, following DeepSeek-V3's reference precompute_freqs_cis.
#include "dsbench/kernels/rope.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace dsbench::kernels {
namespace {
// Dimension index at which a frequency completes num_rotations turns over max_pos positions.
double correction_dim(double num_rotations, double dim, double base, double max_pos) {
  return dim * std::log(max_pos / (num_rotations * 2 * M_PI)) / (2 * std::log(base));
}
}  // namespace

std::vector<float> rope_inv_freq(const RopeParams& p) {
  if (p.dim <= 0 || p.dim % 2) throw std::invalid_argument("rope_inv_freq: dim must be even > 0");
  const int64_t half = p.dim / 2;
  std::vector<float> out(static_cast<size_t>(half));
  double low = 0, high = 0;
  if (p.yarn) {
    low = std::floor(correction_dim(p.beta_fast, double(p.dim), p.theta, double(p.original_max_position)));
    high = std::ceil(correction_dim(p.beta_slow, double(p.dim), p.theta, double(p.original_max_position)));
    low = std::max(low, 0.0);
    high = std::min(high, double(p.dim - 1));
    if (low == high) high += 0.001;
  }
  for (int64_t i = 0; i < half; ++i) {
    double f = 1.0 / std::pow(p.theta, double(2 * i) / double(p.dim));
    if (p.yarn) {
      double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
      double smooth = 1.0 - ramp;  // 1: keep (extrapolate), 0: interpolate by factor
      f = f / p.factor * (1.0 - smooth) + f * smooth;
    }
    out[size_t(i)] = float(f);
  }
  return out;
}

void rope_angles(int64_t dim, int64_t pos, const float* inv_freq, float* cs, float* sn) {
  for (int64_t i = 0; i < dim / 2; ++i) {
    // Angles in double: pos * freq reaches 1e5 radians at long contexts, beyond fp32's precision.
    const double a = double(pos) * double(inv_freq[i]);
    cs[i] = float(std::cos(a));
    sn[i] = float(std::sin(a));
  }
}

void rope_rotate(float* x, int64_t heads, int64_t head_stride, int64_t dim, const float* cs,
                 const float* sn) {
  const int64_t half = dim / 2;
  for (int64_t h = 0; h < heads; ++h) {
    float* v = x + h * head_stride;
    for (int64_t i = 0; i < half; ++i) {
      const float a = v[2 * i], b = v[2 * i + 1];
      v[2 * i] = a * cs[i] - b * sn[i];
      v[2 * i + 1] = a * sn[i] + b * cs[i];
    }
  }
}

void rope_apply(float* x, int64_t heads, int64_t head_stride, int64_t dim, int64_t pos,
                const float* inv_freq) {
  if (dim / 2 > 256) throw std::invalid_argument("rope_apply: dim above 512");
  float cs[256], sn[256];
  rope_angles(dim, pos, inv_freq, cs, sn);
  rope_rotate(x, heads, head_stride, dim, cs, sn);
}

}  // namespace dsbench::kernels
