// Aux-loss-free load balancing (DeepSeek-V3 report, section 2.1.2): after each step the
// correction bias of an overloaded expert falls by gamma and that of an underloaded one rises.
#pragma once

#include <cstdint>

namespace dsbench::kernels {

inline constexpr float kDefaultBiasGamma = 0.001f;

// counts: tokens routed to each expert during the step. "Overloaded" means above the mean load
// of the step, "underloaded" below it; an expert exactly at the mean keeps its bias.
void aux_free_bias_update(const int64_t* counts, int n_experts, float gamma, float* bias);

}  // namespace dsbench::kernels
