// CUDA build: a device is usable when the runtime reports at least one and can create a context.
#include <cuda_runtime.h>

#include "dsbench/kernels/cuda_device.h"

namespace dsbench::kernels {

bool cuda_built() { return true; }

bool cuda_device_available(std::string* why) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    if (why) {
      *why = "no CUDA device";
      if (err != cudaSuccess && err != cudaErrorNoDevice) {
        *why += std::string(" (") + cudaGetErrorString(err) + ")";
      }
    }
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return false;
  }
  return true;
}

}  // namespace dsbench::kernels
