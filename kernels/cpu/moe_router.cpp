// Gate logits through the maintained BLAS (moe_router.h).
#include "dsbench/kernels/moe_router.h"

#include <cblas.h>

namespace dsbench::kernels {

void moe_router_logits(const float* x, const float* w, int64_t n_tokens, int64_t hidden,
                       int n_experts, float* logits) {
  if (n_tokens <= 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n_tokens), n_experts, int(hidden), 1.0f,
              x, int(hidden), w, int(hidden), 0.0f, logits, n_experts);
}

}  // namespace dsbench::kernels
