// The engine's forward pass on a CUDA device: a CPU Model's weights uploaded row-major, a paged
// latent cache (mla_absorbed rows) on the device, GEMMs through cuBLAS. CUDA-free interface: the
// CPU-only build compiles it too, and there constructing one throws "built without CUDA".
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dsbench/config.h"
#include "dsbench/engine/model.h"
#include "dsbench/kernels/dtype.h"

namespace dsbench::engine {

struct CudaModelOptions {
  AttentionMode mode = AttentionMode::kMlaAbsorbed;    // the only mode the device engine runs
  kernels::DType cache_dtype = kernels::DType::kBF16;  // kF32 or kBF16
  int64_t cache_tokens = 65536;  // pool capacity in tokens over all sequences (whole blocks)
  int block_size = 64;           // tokens per cache block
};

// Same semantics as Model::forward with the cache on the device: sequences come from
// add_sequence(), each forward appends its inputs' tokens, attends causally and returns the
// logits of the inputs that want them, in input order.
class CudaModel {
 public:
  // Checks the config and options (UsageError naming the field), then needs a usable device
  // (std::runtime_error "no CUDA device ..." or "built without CUDA"), then uploads the weights.
  explicit CudaModel(const Model& cpu, CudaModelOptions opts = {});
  ~CudaModel();
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  // Throws UsageError naming the first field the device engine cannot run.
  static void check(const ModelConfig& cfg, const CudaModelOptions& opts);

  const ModelConfig& config() const;
  int64_t vocab() const;
  // Cache sequences. add_sequence throws Error when the id space is exhausted; free_sequence
  // returns the sequence's blocks.
  int32_t add_sequence();
  void free_sequence(int32_t seq);
  int64_t seq_len(int32_t seq) const;
  int64_t free_blocks() const;
  int64_t num_blocks() const;
  // Bytes of the device copy of the weights and of the cache pool.
  double weight_bytes() const;
  double cache_bytes() const;
  // The stream every forward runs on (a cudaStream_t), for event timing.
  void* stream() const;

  // Runs the batch on the device and returns when the logits are on the host. A sequence may
  // appear once per batch. Throws Error when the cache has no room for the new tokens (nothing
  // is appended then) and UsageError for a token id outside the vocabulary.
  void forward(const std::vector<SeqInput>& batch, std::vector<float>& logits,
               ForwardStats* stats = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsbench::engine
