// Internal to kernels/cuda: the GQA decode launch with caller-provided split partials, so other
// ops (MLA-naive) can carve one workspace for everything they need.
#pragma once

#include <cuda_runtime.h>

#include "dsbench/kernels/attention.h"
#include "dsbench/kernels/cuda/decode_schedule.h"

namespace dsbench::kernels::cuda::detail {

size_t gqa_partial_bytes(const GqaDecodeArgs& a, const DecodeSchedule& s);
void gqa_decode_launch(const GqaDecodeArgs& a, const DecodeSchedule& s, void* partials,
                       cudaStream_t stream);

}  // namespace dsbench::kernels::cuda::detail
