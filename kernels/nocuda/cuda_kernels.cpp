// CPU-only build: the CUDA kernels' interface (kernels/include/dsbench/kernels/cuda/) links, and
// every entry point throws. Callers check cuda_device_available() first, so none is reached.
#include <stdexcept>

#include "dsbench/kernels/cuda/decode_schedule.h"
#include "dsbench/kernels/cuda/gemm.h"
#include "dsbench/kernels/cuda/gqa_decode.h"
#include "dsbench/kernels/cuda/memory.h"
#include "dsbench/kernels/cuda/mla_decode.h"
#include "dsbench/kernels/cuda/mla_naive.h"
#include "dsbench/kernels/cuda/moe_gate.h"
#include "dsbench/kernels/cuda/moe_grouped_gemm.h"
#include "dsbench/kernels/cuda/moe_permute.h"
#include "dsbench/kernels/cuda/timing.h"

namespace dsbench::kernels::cuda {
namespace {
[[noreturn]] void no_cuda() { throw std::runtime_error("built without CUDA"); }
}  // namespace

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes) no_cuda();
}
DeviceBuffer::~DeviceBuffer() = default;
DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  ptr_ = o.ptr_;
  bytes_ = o.bytes_;
  o.ptr_ = nullptr;
  o.bytes_ = 0;
  return *this;
}
void* Workspace::get(size_t) { no_cuda(); }
void copy_to_device(void*, const void*, size_t) { no_cuda(); }
void copy_to_host(void*, const void*, size_t) { no_cuda(); }
void memset_device(void*, int, size_t) { no_cuda(); }
void device_synchronize() { no_cuda(); }
int device_sm_count() { no_cuda(); }
int64_t device_l2_bytes() { no_cuda(); }
void fill_uniform_f32(float*, size_t, uint64_t, float, float) { no_cuda(); }
void fill_uniform_bf16(void*, size_t, uint64_t, float, float) { no_cuda(); }
void convert_f32_to_bf16(const float*, void*, size_t, void*) { no_cuda(); }
void convert_bf16_to_f32(const void*, float*, size_t, void*) { no_cuda(); }

EventTimer::EventTimer() { no_cuda(); }
EventTimer::~EventTimer() = default;
void EventTimer::start(void*) { no_cuda(); }
double EventTimer::stop_seconds(void*) { no_cuda(); }
GpuSampler::GpuSampler(SamplerOptions options) : opt_(options) { no_cuda(); }
GpuSampler::~GpuSampler() = default;
void GpuSampler::warmup(const std::function<void()>&) { no_cuda(); }
double GpuSampler::sample(const std::function<void()>&) { no_cuda(); }

DecodeSchedule make_decode_schedule(const int32_t*, int, int) { no_cuda(); }
void mla_latent_decode(const MlaLatentDecodeArgs&, const DecodeSchedule&, Workspace&) { no_cuda(); }
void decode_attention_mla_absorbed_cuda(const MlaDecodeArgs&, const DecodeSchedule&, Workspace&,
                                        void*) {
  no_cuda();
}
void decode_attention_mla_naive_cuda(const MlaDecodeArgs&, const DecodeSchedule&, Workspace&,
                                     void*) {
  no_cuda();
}
int mla_naive_ctas_per_split(const MlaDecodeArgs&) { no_cuda(); }
void decode_attention_gqa_cuda(const GqaDecodeArgs&, const DecodeSchedule&, Workspace&, void*) {
  no_cuda();
}
int gqa_decode_ctas_per_split(const GqaDecodeArgs&) { no_cuda(); }
void moe_gate_cuda(const GateConfig&, const float*, int64_t, const float*, int32_t*, float*,
                   void*) {
  no_cuda();
}
void moe_permute_plan_cuda(const int32_t*, int64_t, int, int, MoePermutationDevice*, void*) {
  no_cuda();
}
void moe_dispatch_cuda(const MoePermutationDevice&, const void*, int64_t, void*, void*) {
  no_cuda();
}
void moe_combine_cuda(const MoePermutationDevice&, const void*, const float*, int64_t, DType,
                      void*, void*) {
  no_cuda();
}
void moe_combine_add_cuda(const MoePermutationDevice&, const void*, const float*, int64_t, DType,
                          float*, void*) {
  no_cuda();
}
void moe_grouped_gemm_cuda(const void*, const std::vector<int64_t>&, const void*, int64_t,
                           int64_t, void*, void*) {
  no_cuda();
}
void gemm_xwt_cuda(const float*, int64_t, int64_t, const WeightView&, float*, int64_t, bool,
                   Workspace&, void*) {
  no_cuda();
}

}  // namespace dsbench::kernels::cuda
