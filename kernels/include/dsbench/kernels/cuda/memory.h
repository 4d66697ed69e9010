// Device memory for CUDA kernels, their tests and benchmarks, behind a CUDA-free interface so
// suites and tests compile in the CPU-only build too (there every call throws "built without CUDA").
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dsbench::kernels::cuda {

// Owns one device allocation (cudaMalloc). Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) {
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Scratch memory that grows on demand (kernels with split-KV partials, converted weights).
class Workspace {
 public:
  // A device pointer to at least `bytes`, 256-byte aligned; invalidates earlier pointers.
  void* get(size_t bytes);

 private:
  DeviceBuffer buf_;
};

void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void memset_device(void* dst, int value, size_t bytes);
void device_synchronize();
int device_sm_count();
int64_t device_l2_bytes();

template <class T>
DeviceBuffer upload(const std::vector<T>& v) {
  DeviceBuffer b(v.size() * sizeof(T));
  if (!v.empty()) copy_to_device(b.get(), v.data(), v.size() * sizeof(T));
  return b;
}
template <class T>
std::vector<T> download(const void* src, size_t n) {
  std::vector<T> v(n);
  if (n) copy_to_host(v.data(), src, n * sizeof(T));
  return v;
}

// Seeded uniform random fill in [lo, hi) on the device (big caches would take seconds on the
// host). Same seed, same values. bf16 values are rounded to nearest even from fp32.
void fill_uniform_f32(float* dst, size_t n, uint64_t seed, float lo, float hi);
void fill_uniform_bf16(void* dst, size_t n, uint64_t seed, float lo, float hi);
// Converts between fp32 and bf16 on the device.
void convert_f32_to_bf16(const float* src, void* dst, size_t n, void* stream = nullptr);
void convert_bf16_to_f32(const void* src, float* dst, size_t n, void* stream = nullptr);

}  // namespace dsbench::kernels::cuda
