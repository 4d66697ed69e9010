// RMSNorm (DeepSeek/LLaMA): y = x / sqrt(mean(x^2) + eps) * weight, fp32, rows independent.
#pragma once

#include <cstdint>

namespace dsbench::kernels {

// x, y: [rows, dim] with row strides ldx, ldy (may alias when ldx == ldy). weight: [dim].
void rms_norm(const float* x, int64_t rows, int64_t dim, int64_t ldx, const float* weight,
              float eps, float* y, int64_t ldy);

}  // namespace dsbench::kernels
