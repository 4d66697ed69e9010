// CPU-only build: the device engine's interface links, the config check still runs (so bad
// options are named the same way), and everything that would need a device throws.
#include <stdexcept>

#include "dsbench/engine/cuda_model.h"

namespace dsbench::engine {
namespace {
[[noreturn]] void no_cuda() {
  throw std::runtime_error("CUDA engine: built without CUDA");
}
}  // namespace

struct CudaModel::Impl {};

CudaModel::CudaModel(const Model& cpu, CudaModelOptions opts) {
  check(cpu.config(), opts);
  no_cuda();
}
CudaModel::~CudaModel() = default;
const ModelConfig& CudaModel::config() const {
  no_cuda();
}
int64_t CudaModel::vocab() const {
  no_cuda();
}
int32_t CudaModel::add_sequence() {
  no_cuda();
}
void CudaModel::free_sequence(int32_t) {
  no_cuda();
}
int64_t CudaModel::seq_len(int32_t) const {
  no_cuda();
}
int64_t CudaModel::free_blocks() const {
  no_cuda();
}
int64_t CudaModel::num_blocks() const {
  no_cuda();
}
double CudaModel::weight_bytes() const {
  no_cuda();
}
double CudaModel::cache_bytes() const {
  no_cuda();
}
void* CudaModel::stream() const {
  no_cuda();
}
void CudaModel::forward(const std::vector<SeqInput>&, std::vector<float>&, ForwardStats*) {
  no_cuda();
}

}  // namespace dsbench::engine
