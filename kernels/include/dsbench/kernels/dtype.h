// Storage dtypes for kernels: bf16, fp16 and fp8 (e4m3) as raw bits with float conversion.
// Arithmetic is always in fp32; these types only define how values are stored and read.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace dsbench::kernels {

enum class DType { kF32, kBF16, kF16, kFP8E4M3 };

inline constexpr int dtype_bytes(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kBF16: return 2;
    case DType::kF16: return 2;
    case DType::kFP8E4M3: return 1;
  }
  return 0;
}
const char* dtype_name(DType t);  // "fp32", "bf16", "fp16", "fp8"
// Parses "fp32"/"f32"/"float32", "bf16"/"bfloat16", "fp16"/"f16"/"float16", "fp8"/"fp8_e4m3";
// returns false when unknown.
bool parse_dtype(const std::string& s, DType* out);

struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  explicit bf16(float f) : bits(from_float(f)) {}
  explicit operator float() const { return to_float(bits); }
  static inline uint16_t from_float(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);                                        // round to nearest even
    return uint16_t(u >> 16);
  }
  static inline float to_float(uint16_t b) {
    uint32_t u = uint32_t(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

// IEEE half precision, round to nearest even.
struct fp16 {
  uint16_t bits = 0;
  fp16() = default;
  explicit fp16(float f) : bits(from_float(f)) {}
  explicit operator float() const { return to_float(bits); }
  static uint16_t from_float(float f);
  static float to_float(uint16_t h);
};

// OCP FP8 E4M3 (finite only, max 448), round to nearest even, saturating.
struct fp8e4m3 {
  uint8_t bits = 0;
  fp8e4m3() = default;
  explicit fp8e4m3(float f) : bits(from_float(f)) {}
  explicit operator float() const { return to_float(bits); }
  static uint8_t from_float(float f);
  static float to_float(uint8_t b);
};

// Relative error bound a kernel's output may have against a float64 reference, by storage dtype.
inline double rel_tolerance(DType t) {
  switch (t) {
    case DType::kF32: return 1e-5;
    case DType::kBF16: return 2e-2;
    case DType::kF16: return 5e-3;
    case DType::kFP8E4M3: return 1.5e-1;
  }
  return 0;
}

}  // namespace dsbench::kernels
