// CPU-only build: there is no CUDA backend, so no device is ever available.
#include "dsbench/kernels/cuda_device.h"

namespace dsbench::kernels {

bool cuda_built() { return false; }

bool cuda_device_available(std::string* why) {
  if (why) *why = "built without CUDA";
  return false;
}

}  // namespace dsbench::kernels
