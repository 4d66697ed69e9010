// Conversions for the storage dtypes declared in dtype.h.
#include "dsbench/kernels/dtype.h"

#include <algorithm>
#include <cmath>

namespace dsbench::kernels {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "fp32";
    case DType::kBF16: return "bf16";
    case DType::kF16: return "fp16";
    case DType::kFP8E4M3: return "fp8";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType* out) {
  if (s == "fp32" || s == "f32" || s == "float32" || s == "float") *out = DType::kF32;
  else if (s == "bf16" || s == "bfloat16") *out = DType::kBF16;
  else if (s == "fp16" || s == "f16" || s == "float16" || s == "half") *out = DType::kF16;
  else if (s == "fp8" || s == "fp8_e4m3" || s == "e4m3") *out = DType::kFP8E4M3;
  else return false;
  return true;
}

uint16_t fp16::from_float(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t mant = x & 0x007fffffu;
  int32_t exp = int32_t((x >> 23) & 0xff);
  if (exp == 0xff) return uint16_t(sign | 0x7c00u | (mant ? 0x200u : 0));  // inf / nan
  int32_t e = exp - 127 + 15;
  if (e >= 0x1f) return uint16_t(sign | 0x7c00u);  // overflow -> inf
  if (e <= 0) {                                     // subnormal or zero
    if (e < -10) return uint16_t(sign);
    mant |= 0x00800000u;
    uint32_t shift = uint32_t(14 - e);
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return uint16_t(sign | half);
  }
  uint32_t half = sign | (uint32_t(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) ++half;  // may carry into exponent: fine
  return uint16_t(half);
}

float fp16::to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // normalise the subnormal
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      x = sign | (uint32_t(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

float fp8e4m3::to_float(uint8_t b) {
  int sign = (b & 0x80) ? -1 : 1;
  int exp = (b >> 3) & 0xf;
  int mant = b & 0x7;
  if (exp == 0xf && mant == 0x7) return std::nanf("");
  if (exp == 0) return sign * std::ldexp(float(mant), -9);  // subnormal: m/8 * 2^-6
  return sign * std::ldexp(1.0f + mant / 8.0f, exp - 7);
}

uint8_t fp8e4m3::from_float(float f) {
  if (std::isnan(f)) return 0x7f;
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::min(std::fabs(f), 448.0f);
  // Search the 127 non-negative finite codes for the nearest (ties to even code); exact and simple.
  int lo = 0, hi = 0x7e;
  while (lo < hi) {  // largest code with value <= a
    int mid = (lo + hi + 1) / 2;
    if (to_float(uint8_t(mid)) <= a) lo = mid;
    else hi = mid - 1;
  }
  int best = lo;
  if (lo < 0x7e) {
    float dl = a - to_float(uint8_t(lo)), dh = to_float(uint8_t(lo + 1)) - a;
    if (dh < dl || (dh == dl && (lo & 1))) best = lo + 1;
  }
  return uint8_t(sign | best);
}

}  // namespace dsbench::kernels
