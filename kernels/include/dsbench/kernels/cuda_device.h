// Whether a CUDA device can be used, from code that must also build without CUDA.
// The CPU-only build links kernels/nocuda/ implementations that always say no.
#pragma once

#include <string>

namespace dsbench::kernels {

// True when the binary was built with the CUDA backend.
bool cuda_built();
// True when built with CUDA and at least one device is usable; otherwise `why` says why
// ("built without CUDA", "no CUDA device", or the runtime's message).
bool cuda_device_available(std::string* why = nullptr);

}  // namespace dsbench::kernels
